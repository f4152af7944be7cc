"""The lifecycle service's one error table: every class of domain/errors.py (and the shared common errors) → HTTP
status, stable code and Chinese message."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from lifecycle.domain.errors import (
    AdjustmentItemCancelledError,
    AdjustmentShapeError,
    ElementsIncompleteError,
    FourEyesViolationError,
    IllegalTransitionError,
    InvalidTestResultError,
    ItemNotFoundError,
    ReasonRequiredError,
    StaleVersionError,
    UnknownItemVersionError,
    UnknownPhaseError,
)

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    ItemNotFoundError: ErrorSpec(404, "ITEM_NOT_FOUND", "未找到事项“{item_id}”"),
    StaleVersionError: ErrorSpec(
        409, "VERSION_CONFLICT", "事项已被其他操作修改（期望版本 {expected}，当前版本 {actual}），请刷新后重试"),
    IllegalTransitionError: ErrorSpec(
        409, "ILLEGAL_TRANSITION",
        "事项当前处于{phase_label}（{step_label}），不能执行“{command_label}”；当前允许：{allowed_labels}"),
    FourEyesViolationError: ErrorSpec(
        403, "FOUR_EYES_VIOLATION", "审核人不能审核自己录入或提交的事项（第 {revision} 版）"),
    ReasonRequiredError: ErrorSpec(422, "REASON_REQUIRED", "执行“{command_label}”必须填写原因"),
    InvalidTestResultError: ErrorSpec(422, "INVALID_TEST_RESULT", "测试结果必须是 pass（通过）或 fail（未通过）"),
    AdjustmentShapeError: ErrorSpec(
        422, "ADJUSTMENT_INVALID",
        "事项{kind_label}不成立：拆分须为 1 个原事项对应至少 2 个新事项，合并须为至少 2 个原事项对应 1 个新事项，"
        "且同一事项只能出现一次（原事项 {predecessors} 个，新事项 {successors} 个）"),
    AdjustmentItemCancelledError: ErrorSpec(
        409, "ADJUSTMENT_ITEM_CANCELLED", "事项“{item_id}”已注销，不能参与{kind_label}"),
    ElementsIncompleteError: ErrorSpec(
        422, "ELEMENTS_INCOMPLETE",
        "第 {revision} 版事项要素不完整，补全后才能提交审核（缺少 {count} 项：{missing_list}）"),
    UnknownItemVersionError: ErrorSpec(
        422, "UNKNOWN_ITEM_VERSION", "事项“{item_id}”没有第 {item_version} 版（当前为第 {version} 版）"),
    UnknownPhaseError: ErrorSpec(422, "UNKNOWN_PHASE", "没有“{phase}”这一阶段；可选：{choices}"),
})
