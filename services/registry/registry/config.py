from pydantic import Field

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    import_chunk_size: int = Field(
        1000, ge=1, le=10000, description="Rows per import transaction (one append_batch per chunk).")
    import_max_mb: int = Field(512, ge=1, description="Largest accepted import upload, in MiB.")
