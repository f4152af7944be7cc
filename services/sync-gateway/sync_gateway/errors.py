"""The sync gateway's one error table: domain error → (HTTP status, stable code, Chinese message)."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from sync_gateway.domain.errors import FeedEntryNotFoundError, RejectionReasonRequiredError

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    FeedEntryNotFoundError: ErrorSpec(
        404, "FEED_ENTRY_NOT_FOUND", "同步源中没有事项“{item_id}”第 {item_version} 版的条目，无法反馈"),
    RejectionReasonRequiredError: ErrorSpec(
        422, "REASON_REQUIRED", "退回事项“{item_id}”第 {item_version} 版必须填写原因"),
})
