"""One command for many items (e.g. approve 5,000 imported items): every item is loaded, checked and decided on its
own, exactly as a single command would be; the decided ones are saved in chunks, each chunk one transaction. An
item whose version moves meanwhile is reloaded and decided again; the report says per item what happened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal
from shared.errors import ConcurrencyConflictError, DomainError
from shared.eventstore import EventMetadata

from lifecycle.adapters.store import Change, ItemRepository, change
from lifecycle.domain.decide import ItemCommand, decide
from lifecycle.domain.model import ItemState
from lifecycle.service_layer.clock import SYSTEM_CLOCK, Clock
from lifecycle.service_layer.items import require_access
from lifecycle.service_layer.roles import COMMAND_ROLES

# A batch retries an item whose version moved under it this often before reporting the conflict.
BATCH_CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class BatchOutcome:
    item_id: str
    state: ItemState | None = None
    error: DomainError | None = None


@dataclass
class BatchReport:
    command: str
    outcomes: list[BatchOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if o.error is None)


class BatchCommands:
    def __init__(self, engine: AsyncEngine, repository: ItemRepository, *, clock: Clock = SYSTEM_CLOCK,
                 chunk_size: int = 500) -> None:
        self.engine = engine
        self.repository = repository
        self.clock = clock
        self.chunk_size = chunk_size

    async def execute(self, command: ItemCommand, item_ids: Sequence[str], principal: Principal, *,
                      correlation_id: str) -> BatchReport:
        principal.require_role(*COMMAND_ROLES[command.command])
        report = BatchReport(command.command.value)
        ids = list(dict.fromkeys(item_ids))
        for start in range(0, len(ids), self.chunk_size):
            report.outcomes += await self._chunk(command, ids[start:start + self.chunk_size], principal,
                                                 correlation_id)
        return report

    async def _chunk(self, command: ItemCommand, ids: list[str], principal: Principal,
                     correlation_id: str) -> list[BatchOutcome]:
        outcomes: dict[str, BatchOutcome] = {}
        conflicts: dict[str, int] = {}
        while pending := [i for i in ids if i not in outcomes]:
            now = self.clock.now()
            metadata = EventMetadata(actor=principal.subject, correlation_id=correlation_id, recorded_at=now)
            refused: dict[str, BatchOutcome] = {}
            changes: list[Change] = []
            try:
                async with self.engine.begin() as conn:
                    states = await self.repository.load_many(conn, pending)
                    for item_id in pending:
                        try:
                            require_access(states[item_id], principal)
                            decided = decide(states[item_id], command, actor=principal.subject, now=now)
                            changes.append(change(states[item_id], decided, metadata))
                        except DomainError as exc:
                            refused[item_id] = BatchOutcome(item_id, error=exc)
                    await self.repository.save(conn, changes)
            except ConcurrencyConflictError as exc:
                # Someone else wrote to an item of this chunk meanwhile and the chunk rolled back: decide the chunk
                # again on fresh states (the race's loser may now be illegal, or fine); report an item that keeps
                # losing as a conflict the caller can retry.
                loser = str(exc.context.get("stream_id"))
                conflicts[loser] = conflicts.get(loser, 0) + 1
                if loser not in pending:
                    outcomes.update({i: BatchOutcome(i, error=exc) for i in pending})
                elif conflicts[loser] >= BATCH_CONFLICT_RETRIES:
                    outcomes[loser] = BatchOutcome(loser, error=exc)
                continue
            outcomes.update(refused)
            outcomes.update({c.before.item_id: BatchOutcome(c.before.item_id, state=c.after) for c in changes})
        return [outcomes[i] for i in ids]
