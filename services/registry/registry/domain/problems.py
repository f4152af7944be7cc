"""One problem of submitted content: a field path (``legal_basis[2].rank``), a stable code and a Chinese message.

Every check returns all its problems at once (a civil servant fixes a form in one pass, not one error at a time).
The codes are part of the API: clients and import reports key on them, so they never change meaning."""

from __future__ import annotations

from dataclasses import dataclass

# code → what it means (shown in the OpenAPI description of 422 answers and in the import template's notes)
PROBLEM_CODES: dict[str, str] = {
    "REQUIRED": "必填项为空",
    "NOT_TEXT": "应为文本",
    "NOT_LIST": "应为列表",
    "NOT_OBJECT": "应为对象",
    "NULL_NOT_ALLOWED": "该要素不能为 null（不填请省略）",
    "NOT_INTEGER": "应为整数",
    "NOT_DATE": "应为日期（YYYY-MM-DD）",
    "NOT_BOOLEAN": "应为是/否",
    "TOO_LONG": "内容过长",
    "OUT_OF_RANGE": "数值超出允许范围",
    "UNKNOWN_FIELD": "不认识的要素",
    "NOT_ALLOWED_VALUE": "取值不在允许范围内",
    "DUPLICATE": "列表中有重复值",
    "UNKNOWN_CODE": "字典中没有该编码",
    "EXPIRED_CODE": "字典编码已失效",
    "NOT_YET_VALID_CODE": "字典编码尚未启用",
    "MALFORMED": "格式不正确",
    "NO_CODABLE_CHARACTER": "简称中没有可用于编码的字符",
    "LEGAL_BASIS_OUT_OF_ORDER": "设定依据未按效力从高到低排列",
    "PROMISED_EXCEEDS_STATUTORY": "承诺办结时限超过法定办结时限",
    "FEES_CONFLICT": "收费项目与“不收费”矛盾",
    "CANCEL_NOT_AFTER_EFFECTIVE": "计划取消日期不晚于计划生效日期",
    "MEMBERS_REQUIRED": "组合事项缺少成员事项",
    "MEMBERS_NOT_ALLOWED": "元事项不能有成员事项",
    "MEMBER_NOT_META": "组合事项的成员必须是元事项",
    "STILL_A_MEMBER": "事项仍是组合事项的成员，不能改为组合事项",
    "PARENT_REQUIRED": "子项或业务办理项缺少上级事项",
    "PARENT_NOT_ALLOWED": "主项不能有上级事项",
    "PARENT_TIER_MISMATCH": "上级事项的层级不符",
    "HAS_CHILDREN": "事项下还有子项或办理项，不能改变层级",
    "HANDLING_KIND_REQUIRED": "业务办理项缺少办理项类型",
    "HANDLING_KIND_NOT_ALLOWED": "只有业务办理项才有办理项类型",
    "REFERENCE_NOT_FOUND": "引用的事项不存在",
    "REFERENCE_CANCELLED": "引用的事项已注销",
    "SELF_REFERENCE": "事项不能引用自身",
    "SERIAL_CYCLE": "串联关系形成循环",
    "RELATION_CONFLICT": "同一事项不能既串联又并联",
    "MAINTENANCE_NOT_ALLOWED": "维护只能修改非实质性要素",
    "REGION_FORBIDDEN": "区划不在当前用户的管辖范围内",
    "SOURCE_REF_REQUIRED": "导入的每一行都需要来源编号",
    "SOURCE_REF_REPEATED": "同一文件中来源编号重复",
    "ITEM_CANCELLED": "事项已注销，内容不能再修改",
    "UNKNOWN_COLUMN": "不认识的列（已忽略）",
    "MISSING_COLUMN": "缺少必需的列",
    "UNREADABLE_ROW": "无法解析的行",
}


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


def index_path(field: str, index: int, key: str | None = None) -> str:
    """``legal_basis`` + 2 + ``rank`` → ``legal_basis[2].rank``."""
    return f"{field}[{index}]" + (f".{key}" if key else "")
