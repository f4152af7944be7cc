"""The coding service's one error table: domain error → (HTTP status, stable code, Chinese message)."""

from shared.errors import COMMON_ERRORS, ErrorSpec, ErrorTable

from coding.domain.errors import (
    CodeElementsInvalidError,
    CodeNotFoundError,
    CodeSpaceExhaustedError,
    DictionaryEntryNotFoundError,
    DictionaryNotFoundError,
    DictionaryQueryInvalidError,
    EmptyNameCodeError,
    ItemCodeEndedError,
    ItemNotCodedError,
    ItemServiceNotFoundError,
    ItemServiceWithdrawnError,
    MalformedCodeError,
    PinyinOverrideInvalidError,
    PinyinOverrideNotFoundError,
    SequenceOutOfRangeError,
    ServiceSequenceExhaustedError,
)

ERRORS = ErrorTable({
    **COMMON_ERRORS,
    CodeElementsInvalidError: ErrorSpec(422, "CODE_ELEMENTS_INVALID", "编码要素无效，无法生成事项编码"),
    MalformedCodeError: ErrorSpec(422, "MALFORMED_CODE", "编码格式错误：{reason}"),
    # Never answered by itself: preview and allocation list it among the elements' problems (with this code).
    EmptyNameCodeError: ErrorSpec(422, "EMPTY_NAME_CODE", "{reason}"),
    # The service makes every sequence itself: one out of range is a bug, named here.
    SequenceOutOfRangeError: ErrorSpec(500, "SEQUENCE_OUT_OF_RANGE", "{reason}"),
    CodeNotFoundError: ErrorSpec(404, "CODE_NOT_FOUND", "事项“{item_id}”尚未分配编码"),
    CodeSpaceExhaustedError: ErrorSpec(
        409, "CODE_SPACE_EXHAUSTED", "基本编码 {base_code} 的 99 个重码序号已用完，请修改简称"),
    ItemCodeEndedError: ErrorSpec(409, "ITEM_CODE_ENDED", "事项“{item_id}”的编码 {code} 已因{reason}注销，不再赋码"),
    ItemNotCodedError: ErrorSpec(409, "ITEM_NOT_CODED", "事项“{item_id}”没有有效的事项编码，不能分配事项服务编码"),
    ItemServiceNotFoundError: ErrorSpec(
        404, "ITEM_SERVICE_NOT_FOUND", "事项“{item_id}”没有序号为 {sequence} 的事项服务"),
    ItemServiceWithdrawnError: ErrorSpec(409, "ITEM_SERVICE_WITHDRAWN", "事项服务 {service_code} 已撤销"),
    ServiceSequenceExhaustedError: ErrorSpec(
        409, "SERVICE_SEQUENCE_EXHAUSTED", "事项“{item_id}”的 999 个事项服务序号已用完"),
    DictionaryNotFoundError: ErrorSpec(404, "DICTIONARY_NOT_FOUND", "没有名为“{name}”的代码表，可用：{available}"),
    DictionaryEntryNotFoundError: ErrorSpec(404, "DICTIONARY_ENTRY_NOT_FOUND", "{reason}"),
    DictionaryQueryInvalidError: ErrorSpec(
        422, "DICTIONARY_QUERY_INVALID", "代码表查询参数 {parameter} 无效：{reason}"),
    PinyinOverrideInvalidError: ErrorSpec(422, "PINYIN_OVERRIDE_INVALID", "拼音修正词条无效：{reason}"),
    PinyinOverrideNotFoundError: ErrorSpec(404, "PINYIN_OVERRIDE_NOT_FOUND", "拼音修正词典中没有词条“{phrase}”"),
})
