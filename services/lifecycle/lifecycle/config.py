from pydantic import Field

from shared.settings import ServiceSettings


class LifecycleSettings(ServiceSettings):
    item_arrival_wait_s: float = Field(
        5.0, ge=0,
        description="A command for an item whose draft event has not arrived from the registry yet waits this long "
                    "for it (the registry and the lifecycle are only eventually consistent).",
    )
