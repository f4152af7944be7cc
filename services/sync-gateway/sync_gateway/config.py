from pydantic import Field

from shared.settings import ServiceSettings


class SyncSettings(ServiceSettings):
    feed_max_wait_s: float = Field(30.0, gt=0, description="Longest long-poll a feed client may ask for (wait=).")
