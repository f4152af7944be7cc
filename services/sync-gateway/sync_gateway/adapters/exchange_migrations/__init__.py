"""The exchange database's (前置库) migration history (``versions/``; see shared.migrations): its tables belong to
the gateway's exchange writer, and `shixiang migrate sync` upgrades it with the gateway's own database."""

from pathlib import Path

from shared.migrations import History

from sync_gateway.adapters.exchange_db import exchange_metadata

HISTORY = History("exchange", Path(__file__).parent, (exchange_metadata,), migrate_with="sync")
