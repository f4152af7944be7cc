"""Who may use the operators' console (``roles.CONSOLE_ROLES``): one check every console use case calls first."""

from __future__ import annotations

from shared.auth import Principal

from sync_gateway.domain.errors import ConsoleRoleRequiredError
from sync_gateway.service_layer.roles import CONSOLE_ROLES


def require_console(principal: Principal) -> None:
    """Operators and administrators pass; anyone else (national platform, provincial staff) gets 403
    CONSOLE_ROLE_REQUIRED."""
    if "admin" not in principal.roles and not principal.roles.intersection(CONSOLE_ROLES):
        raise ConsoleRoleRequiredError(roles="、".join(sorted(principal.roles)) or "无")
