"""The registry database's migration history (``versions/``; see shared.migrations)."""

from pathlib import Path

from shared.audit import audit_metadata
from shared.dead_letters import dead_letter_metadata
from shared.eventstore import store_metadata
from shared.migrations import History

from registry.adapters.tables import registry_metadata

HISTORY = History("registry", Path(__file__).parent,
                  (store_metadata, dead_letter_metadata, registry_metadata, audit_metadata), migrate_with="registry")
