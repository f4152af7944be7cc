"""The lifecycle service's one error table."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from lifecycle.app import ItemNotFoundError, StaleVersionError
from lifecycle.domain import (
    FourEyesViolationError,
    IllegalTransitionError,
    InvalidTestResultError,
    ReasonRequiredError,
)

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    ItemNotFoundError: ErrorSpec(404, "ITEM_NOT_FOUND", "未找到事项“{item_id}”"),
    StaleVersionError: ErrorSpec(409, "VERSION_CONFLICT", "事项已被其他操作修改（期望版本 {expected}，当前版本 {actual}），请刷新后重试"),
    IllegalTransitionError: ErrorSpec(
        409, "ILLEGAL_TRANSITION", "事项当前处于{phase_label}（{step_label}），不能执行“{command_label}”；当前允许：{allowed_labels}"),
    FourEyesViolationError: ErrorSpec(403, "FOUR_EYES_VIOLATION", "审核人不能审核自己录入或提交的事项（第 {revision} 版）"),
    ReasonRequiredError: ErrorSpec(422, "REASON_REQUIRED", "执行“{command}”必须填写原因"),
    InvalidTestResultError: ErrorSpec(422, "INVALID_TEST_RESULT", "测试结果必须是 pass（通过）或 fail（未通过）"),
})
