"""Domain errors and the per-service error table.

Domain code raises :class:`DomainError` subclasses carrying keyword context; each service has exactly one
:class:`ErrorTable` mapping those classes to (HTTP status, stable code, Chinese message template). The HTTP
adapter turns them into ``{"code", "message", "details"}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class DomainError(Exception):
    """Base of every expected failure. ``context`` fills the message template and becomes ``details``."""

    def __init__(self, **context: Any) -> None:
        super().__init__(type(self).__name__, context)
        self.context = context


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    code: str
    message: str  # Chinese template, str.format(**context)


class ErrorTable:
    """One table per service: domain error class → ErrorSpec. Lookup follows the class hierarchy."""

    def __init__(self, entries: Mapping[type[DomainError], ErrorSpec]) -> None:
        self._entries = dict(entries)

    def spec_for(self, error: DomainError) -> ErrorSpec:
        for cls in type(error).__mro__:
            if cls in self._entries:
                return self._entries[cls]  # type: ignore[index]
        return ErrorSpec(500, "INTERNAL_ERROR", "服务内部错误")

    def render(self, error: DomainError) -> tuple[int, dict[str, Any]]:
        spec = self.spec_for(error)
        try:
            message = spec.message.format(**error.context)
        except (KeyError, IndexError):
            message = spec.message
        return spec.status, {"code": spec.code, "message": message, "details": _jsonable(error.context)}

    def codes(self) -> list[ErrorSpec]:
        return list(self._entries.values())


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# Errors every service shares (auth, concurrency, validation). Services add their own classes to their table.
class AuthenticationRequiredError(DomainError):
    """No or invalid bearer token."""


class PermissionDeniedError(DomainError):
    """The caller lacks the role for this action."""


class RegionDeniedError(DomainError):
    """The item lies outside the caller's regions."""


class ConcurrencyConflictError(DomainError):
    """Append with an expected version that is no longer current."""


class NotFoundError(DomainError):
    """The addressed resource does not exist (or is not visible to the caller)."""


class ValidationFailedError(DomainError):
    """Input broke one or more rules; ``problems`` lists {field, code, message}."""


class DeadLetterNotFoundError(DomainError):
    """No dead letter with this id in this service."""


class DeadLetterResolvedError(DomainError):
    """The dead letter was replayed or discarded already."""


class DeadLetterReasonRequiredError(DomainError):
    """Discarding a dead letter must say why."""


COMMON_ERRORS: dict[type[DomainError], ErrorSpec] = {
    AuthenticationRequiredError: ErrorSpec(401, "AUTHENTICATION_REQUIRED", "需要有效的身份令牌：{reason}"),
    PermissionDeniedError: ErrorSpec(403, "ROLE_FORBIDDEN", "当前用户没有执行此操作所需的角色（需要：{required}）"),
    RegionDeniedError: ErrorSpec(403, "REGION_FORBIDDEN", "区划“{region_code}”不在当前用户的管辖区划内"),
    ConcurrencyConflictError: ErrorSpec(
        409, "VERSION_CONFLICT", "事项已被其他操作修改（期望版本 {expected}，当前版本 {actual}），请刷新后重试"
    ),
    NotFoundError: ErrorSpec(404, "NOT_FOUND", "未找到{what}“{key}”"),
    ValidationFailedError: ErrorSpec(422, "VALIDATION_FAILED", "提交的数据未通过校验"),
    DeadLetterNotFoundError: ErrorSpec(404, "DEAD_LETTER_NOT_FOUND", "没有编号为 {id} 的死信"),
    DeadLetterResolvedError: ErrorSpec(409, "DEAD_LETTER_RESOLVED", "死信 {id} 已处理（{status_label}），不能再次处理"),
    DeadLetterReasonRequiredError: ErrorSpec(422, "REASON_REQUIRED", "丢弃死信 {id} 必须填写原因"),
}
