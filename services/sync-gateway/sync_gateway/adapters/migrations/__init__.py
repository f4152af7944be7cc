"""The sync gateway database's migration history (``versions/``; see shared.migrations)."""

from pathlib import Path

from shared.audit import audit_metadata
from shared.dead_letters import dead_letter_metadata
from shared.eventstore import store_metadata
from shared.migrations import History

from sync_gateway.adapters.tables import sync_metadata

HISTORY = History("sync", Path(__file__).parent,
                  (store_metadata, dead_letter_metadata, sync_metadata, audit_metadata), migrate_with="sync")
