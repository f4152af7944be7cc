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
    code: str  # stable id, UPPER_SNAKE: clients switch on it
    message: str  # Chinese template, str.format(**context)
    # HTTP headers the response carries besides its body (name → template, str.format(**context) like the message):
    # what a client acts on without parsing the body (Retry-After of a 429, the feed's current epoch of a 410).
    headers: tuple[tuple[str, str], ...] = ()


FALLBACK = ErrorSpec(500, "INTERNAL_ERROR", "服务内部错误")
"""What an error no table maps answers (a bug: tests/unit/test_error_tables.py keeps every raised error mapped)."""


class ErrorTable:
    """One table per service: domain error class → ErrorSpec. Lookup follows the class hierarchy.

    Only :class:`DomainError` subclasses can be entries (checked here, at construction): the HTTP adapter renders
    DomainErrors alone, so any other class in a table would be a rule nothing ever applies."""

    def __init__(self, entries: Mapping[type[DomainError], ErrorSpec]) -> None:
        for error_class, spec in entries.items():
            if not (isinstance(error_class, type) and issubclass(error_class, DomainError)):
                raise TypeError(f"an error table maps DomainError subclasses; {error_class!r} is not one")
            if not isinstance(spec, ErrorSpec):
                raise TypeError(f"{error_class.__name__} maps to {spec!r}, not to an ErrorSpec")
        self._entries = dict(entries)

    def entry_for(self, error_class: type[DomainError]) -> ErrorSpec | None:
        """The spec of ``error_class`` or of its nearest mapped base class; ``None`` if none is mapped."""
        for cls in error_class.__mro__:
            if issubclass(cls, DomainError):  # object, Exception, a mixin … are never entries
                spec = self._entries.get(cls)
                if spec is not None:
                    return spec
        return None

    def spec_for(self, error: DomainError) -> ErrorSpec:
        return self.entry_for(type(error)) or FALLBACK

    def render(self, error: DomainError) -> tuple[int, dict[str, Any]]:
        spec = self.spec_for(error)
        try:
            message = spec.message.format(**error.context)
        except (KeyError, IndexError):
            message = spec.message
        return spec.status, {"code": spec.code, "message": message, "details": _jsonable(error.context)}

    def headers(self, error: DomainError) -> dict[str, str]:
        """The headers of ``error``'s response (its spec's templates filled from its context)."""
        return {name: template.format(**error.context) for name, template in self.spec_for(error).headers}

    def items(self) -> list[tuple[type[DomainError], ErrorSpec]]:
        """Every entry, in the table's order."""
        return list(self._entries.items())

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


class TokenKeyUnknownError(AuthenticationRequiredError):
    """The token names a signing key (``kid``) the identity provider does not publish, even after fetching its keys
    again: a key it removed, another provider's, or a forgery."""


class IdentityProviderUnreachableError(AuthenticationRequiredError):
    """The identity provider's keys could not be fetched and none are cached, so no token can be checked yet."""


class PermissionDeniedError(DomainError):
    """The caller lacks the role for this action."""


class AuditorRequiredError(DomainError):
    """Only an auditor reads the audit log (an administrator does not by being one)."""


class RegionDeniedError(DomainError):
    """The item lies outside the caller's regions."""


class ConcurrencyConflictError(DomainError):
    """Append with an expected version that is no longer current."""


class NotFoundError(DomainError):
    """The addressed resource does not exist (or is not visible to the caller)."""


class ValidationFailedError(DomainError):
    """Input broke one or more rules; ``problems`` lists {field, code, message}."""


class NulCharacterError(DomainError):
    """The request (path, query, a header or the JSON body) holds a NUL character (U+0000), which no text column
    can store."""


class MalformedJsonError(DomainError):
    """A JSON route's body is not JSON text (syntax, encoding, a lone surrogate, NaN)."""


class JsonTooDeepError(DomainError):
    """A JSON body nested deeper than any request of the API is (``limit`` levels)."""


class UnsupportedMediaTypeError(DomainError):
    """A JSON route's body was sent with a Content-Type other than application/json or application/*+json."""


class DeadLetterNotFoundError(DomainError):
    """No dead letter with this id in this service."""


class DeadLetterResolvedError(DomainError):
    """The dead letter was replayed or discarded already."""


class DeadLetterReasonRequiredError(DomainError):
    """Replaying or discarding a dead letter must say why (``action``: 重放 or 丢弃)."""


COMMON_ERRORS: dict[type[DomainError], ErrorSpec] = {
    AuthenticationRequiredError: ErrorSpec(401, "AUTHENTICATION_REQUIRED", "需要有效的身份令牌：{reason}"),
    TokenKeyUnknownError: ErrorSpec(
        401, "TOKEN_KEY_UNKNOWN", "令牌的签名密钥（kid“{kid}”）不在身份认证服务公布的密钥中，请重新登录取得令牌"),
    IdentityProviderUnreachableError: ErrorSpec(
        401, "IDENTITY_PROVIDER_UNREACHABLE",
        "无法从身份认证服务取得签名密钥（{reason}），暂时无法验证令牌，请稍后再试"),
    PermissionDeniedError: ErrorSpec(
        403, "ROLE_FORBIDDEN", "当前用户没有执行此操作所需的角色（需要：{required_labels}）"),
    AuditorRequiredError: ErrorSpec(
        403, "AUDITOR_REQUIRED", "审计日志仅供审计员（auditor）查阅，管理员亦不能查阅（三员分立）"),
    RegionDeniedError: ErrorSpec(403, "REGION_FORBIDDEN", "区划“{region_code}”不在当前用户的管辖区划内"),
    ConcurrencyConflictError: ErrorSpec(
        409, "VERSION_CONFLICT", "事项已被其他操作修改（期望版本 {expected}，当前版本 {actual}），请刷新后重试"
    ),
    NotFoundError: ErrorSpec(404, "NOT_FOUND", "未找到{what}“{key}”"),
    ValidationFailedError: ErrorSpec(422, "VALIDATION_FAILED", "提交的数据未通过校验"),
    NulCharacterError: ErrorSpec(400, "NUL_CHARACTER", "请求的{where}中含有空字符（U+0000），已拒绝"),
    MalformedJsonError: ErrorSpec(400, "MALFORMED_JSON", "请求体不是有效的 JSON：{reason}"),
    JsonTooDeepError: ErrorSpec(400, "JSON_TOO_DEEP", "请求体 JSON 嵌套超过 {limit} 层，已拒绝"),
    UnsupportedMediaTypeError: ErrorSpec(
        415, "UNSUPPORTED_MEDIA_TYPE", "请求体须为 JSON（Content-Type: application/json），收到的是“{content_type}”"),
    DeadLetterNotFoundError: ErrorSpec(404, "DEAD_LETTER_NOT_FOUND", "没有编号为 {id} 的死信"),
    DeadLetterResolvedError: ErrorSpec(409, "DEAD_LETTER_RESOLVED", "死信 {id} 已处理（{status_label}），不能再次处理"),
    DeadLetterReasonRequiredError: ErrorSpec(422, "REASON_REQUIRED", "{action}死信 {id} 必须填写原因"),
}
