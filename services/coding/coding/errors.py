"""The coding service's one error table."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from coding.app import CodeElementsInvalidError, CodeMalformedError, CodeNotFoundError, CodeSpaceExhaustedError
from coding.http import DictionaryNotFoundError

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    CodeElementsInvalidError: ErrorSpec(422, "CODE_ELEMENTS_INVALID", "编码要素无效，无法生成事项编码"),
    CodeMalformedError: ErrorSpec(422, "MALFORMED_CODE", "事项编码格式错误（{part}）：{reason}"),
    CodeNotFoundError: ErrorSpec(404, "CODE_NOT_FOUND", "事项“{item_id}”尚未分配编码"),
    CodeSpaceExhaustedError: ErrorSpec(409, "CODE_SPACE_EXHAUSTED", "基本编码 {base_code} 的 99 个重码序号已用完，请修改简称"),
    DictionaryNotFoundError: ErrorSpec(404, "DICTIONARY_NOT_FOUND", "没有名为“{name}”的代码表，可用：{available}"),
})
