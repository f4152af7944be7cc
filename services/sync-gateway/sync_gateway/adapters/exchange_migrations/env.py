"""alembic's environment of this history: the one every history shares (shared.migrations.run_env)."""

from shared.migrations import run_env

run_env()
