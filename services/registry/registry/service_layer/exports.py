"""Item lists out (service layer): exports of the items a filter selects, as xlsx or csv in the columns of the import
template, and the template itself. Each is written to a temporary file that the caller hands out and removes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shared.auth import Principal

from registry.adapters import queries
from registry.adapters.spreadsheets.template import write_template
from registry.adapters.spreadsheets.writing import write_csv, write_xlsx
from registry.service_layer.items import Registry
from registry.service_layer.roles import READ_ROLES, WRITE_ROLES


async def export_xlsx(registry: Registry, principal: Principal, filters: queries.ItemFilter) -> Path:
    principal.require_role(*READ_ROLES)
    path = _temporary(".xlsx")
    await write_xlsx(path, queries.iter_items(registry.runtime.engine, principal, filters), registry.dictionaries)
    return path


async def export_csv(registry: Registry, principal: Principal, filters: queries.ItemFilter, *,
                     encoding: str) -> Path:
    """``encoding``: how the file is written (``utf-8-sig``: with a BOM, so that Excel opens it; ``gb18030``)."""
    principal.require_role(*READ_ROLES)
    path = _temporary(".csv")
    await write_csv(path, queries.iter_items(registry.runtime.engine, principal, filters), registry.dictionaries,
                    encoding=encoding)
    return path


def import_template(registry: Registry, principal: Principal) -> Path:
    """The template for the caller: drop-downs of the reference tables valid today and of the caller's regions."""
    principal.require_role(*WRITE_ROLES)
    path = _temporary(".xlsx")
    write_template(path, registry.dictionaries, regions=list(principal.regions), today=registry.now().date())
    return path


def _temporary(suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="registry-", suffix=suffix)
    os.close(handle)
    return Path(name)
