from pathlib import Path

from pydantic import Field

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    import_chunk_size: int = Field(
        1000, ge=1, le=10000, description="Rows per import transaction (one append_batch per chunk).")
    import_max_mb: int = Field(512, ge=1, description="Largest accepted import upload, in MiB.")
    import_max_running: int = Field(
        2, ge=1, le=32, description="Imports running at once in one registry process; later ones wait, queued "
                                    "(each reads its file in a process of its own, up to ≈ 230 MB).")
    import_drain_seconds: float = Field(
        20.0, ge=0, description="On shutdown, how long running imports may take to finish before they are "
                                "interrupted; keep it under the time the process is given to stop (Kubernetes: "
                                "terminationGracePeriodSeconds, 30).")
    import_spool_dir: Path | None = Field(
        None, description="Directory uploads are spooled to while they are imported (default: the system temp "
                          "directory). Needs room for SHIXIANG_IMPORT_MAX_MB per running import; what a killed "
                          "process left there is removed at start-up.")
