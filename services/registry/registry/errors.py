"""The registry service's one error table."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from registry.app import ItemNotFoundError
from registry.domain import ElementsInvalidError

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    ItemNotFoundError: ErrorSpec(404, "ITEM_NOT_FOUND", "未找到事项“{item_id}”"),
    ElementsInvalidError: ErrorSpec(422, "ELEMENTS_INVALID", "事项要素未通过校验，共 {count} 处问题"),
})
