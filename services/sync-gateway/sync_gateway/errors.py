"""The sync gateway's one error table: domain error → (HTTP status, stable code, Chinese message)."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from sync_gateway.domain.errors import (
    ConsoleRoleRequiredError,
    FeedEntryNotFoundError,
    FeedEpochChangedError,
    PublicItemNotFoundError,
    RateLimitedError,
    RejectionReasonRequiredError,
    ReplayCursorAheadError,
    ServiceUnavailableError,
    SubscriptionNotFoundError,
    UpstreamConflictError,
    UpstreamForbiddenError,
    UpstreamInvalidError,
    UpstreamNotFoundError,
    UpstreamRefusedError,
    UpstreamUnauthorizedError,
    WebhookUrlNotAllowedError,
)

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    FeedEntryNotFoundError: ErrorSpec(
        404, "FEED_ENTRY_NOT_FOUND", "同步源中没有事项“{item_id}”第 {item_version} 版的条目，无法反馈"),
    RejectionReasonRequiredError: ErrorSpec(
        422, "REASON_REQUIRED", "退回事项“{item_id}”第 {item_version} 版必须填写原因"),
    ConsoleRoleRequiredError: ErrorSpec(
        403, "CONSOLE_ROLE_REQUIRED", "运维控制台只对运维、管理员角色开放（本人角色：{roles}）"),
    ServiceUnavailableError: ErrorSpec(503, "SERVICE_UNAVAILABLE", "{service}服务暂时无法访问（{reason}），请稍后再试"),
    UpstreamRefusedError: ErrorSpec(400, "UPSTREAM_REFUSED", "{service}服务拒绝了请求：{upstream_message}"),
    UpstreamInvalidError: ErrorSpec(422, "UPSTREAM_INVALID", "{service}服务认为请求不合法：{upstream_message}"),
    UpstreamUnauthorizedError: ErrorSpec(401, "UPSTREAM_UNAUTHORIZED", "{service}服务不接受该令牌：{upstream_message}"),
    UpstreamForbiddenError: ErrorSpec(403, "UPSTREAM_FORBIDDEN", "{service}服务拒绝了本人的访问：{upstream_message}"),
    UpstreamNotFoundError: ErrorSpec(404, "UPSTREAM_NOT_FOUND", "{service}服务中没有所查找的对象：{upstream_message}"),
    UpstreamConflictError: ErrorSpec(409, "UPSTREAM_CONFLICT", "{service}服务因当前状态拒绝：{upstream_message}"),
    FeedEpochChangedError: ErrorSpec(
        410, "FEED_EPOCH_CHANGED", "同步源已重置：纪元“{epoch}”已失效（当前纪元“{current}”），原游标不再有效，"
                                   "请从快照 {snapshot_url} 重新开始同步", headers=(("X-Feed-Epoch", "{current}"),)),
    PublicItemNotFoundError: ErrorSpec(
        404, "PUBLIC_ITEM_NOT_FOUND",
        "没有事项编码为“{code}”的在线事项，无法提供办事指南（未发布、已下线或已注销的事项不公开）"),
    RateLimitedError: ErrorSpec(
        429, "RATE_LIMITED", "请求过于频繁，请 {retry_after_s} 秒后再试",
        headers=(("Retry-After", "{retry_after_s}"),)),
    WebhookUrlNotAllowedError: ErrorSpec(422, "WEBHOOK_URL_NOT_ALLOWED", "回调地址“{url}”不允许：{reason}"),
    SubscriptionNotFoundError: ErrorSpec(404, "SUBSCRIPTION_NOT_FOUND", "没有回调订阅“{subscription_id}”"),
    ReplayCursorAheadError: ErrorSpec(
        422, "REPLAY_CURSOR_AHEAD", "重放游标 {after} 超出同步源末尾（当前最后一条为 {last}），请使用不大于它的游标"),
})
