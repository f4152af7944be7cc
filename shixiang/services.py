"""The four services as the tooling knows them: composition-root module, default port, URL prefix."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class ServiceEntry:
    name: str  # also the topic segment and the database suffix
    module: str  # composition root: SETTINGS, build(settings), create_app(settings)
    port: int  # default development port (architecture.md)
    prefix: str  # URL prefix of its API

    def bootstrap(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def database(self) -> str:
        return f"shixiang_{self.name}"


SERVICES: dict[str, ServiceEntry] = {
    "registry": ServiceEntry("registry", "registry.bootstrap", 8001, "/registry/v1"),
    "coding": ServiceEntry("coding", "coding.bootstrap", 8002, "/coding/v1"),
    "lifecycle": ServiceEntry("lifecycle", "lifecycle.bootstrap", 8003, "/lifecycle/v1"),
    "sync": ServiceEntry("sync", "sync_gateway.bootstrap", 8004, "/sync/v1"),
}
ALIASES = {"sync-gateway": "sync", "sync_gateway": "sync"}


def service_entry(name: str) -> ServiceEntry:
    key = ALIASES.get(name, name)
    if key not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; choose one of {', '.join(SERVICES)}")
    return SERVICES[key]
