from datetime import timedelta, timezone

from pydantic import Field

from shared.settings import ServiceSettings


class LifecycleSettings(ServiceSettings):
    item_arrival_wait_s: float = Field(
        5.0, ge=0,
        description="A command for an item whose draft event has not arrived from the registry yet waits this long "
                    "for it (the registry and the lifecycle are only eventually consistent).",
    )
    scheduler_poll_interval_s: float = Field(
        1.0, gt=0, description="How often the planned-dates worker (consume role) looks for due actions.")
    planned_dates_utc_offset_hours: int = Field(
        8, ge=-12, le=14,
        description="A planned date (计划生效/取消日期) takes effect at the start of that day at this UTC offset "
                    "(8: China Standard Time).",
    )
    snapshot_every: int = Field(
        100, ge=2, description="Write a snapshot of an item's state each time its stream grows by this many events.")
    batch_chunk_size: int = Field(
        500, ge=1, description="Items a batch saves per transaction (each item is still checked on its own).")

    @property
    def planned_dates_tz(self) -> timezone:
        return timezone(timedelta(hours=self.planned_dates_utc_offset_hours))
