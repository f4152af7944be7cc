"""The item elements (事项要素), declared once: every element and every field inside one, what kind of value it holds,
whether a draft or a submission to review needs it, whether a 维护 (maintenance) may change it without review, whether
it is part of the item code, whether the national feed publishes it, its spreadsheet column and its OpenAPI text.

Everything else about the elements is derived from this table and nothing else spells them out again:

* the registry's validation (``registry/domain/elements.py``: each field's checker is compiled from its kind, the
  rules between fields are named functions listed there), ``missing_for_submission``, the labels of field paths;
* the item list's columns (``registry/domain/tabular.py``: header, note, required mark, order, cell format);
* the OpenAPI models of the registry (``registry/adapters/schemas.py``) and the national feed's published schema
  (``shared/contracts/feed.py``);
* the coded elements and the maintainable paths every service shares (``shared/contracts/vocabulary.py``).

A field must decide its column (:class:`Column`, :class:`InCell` or :class:`NoColumn` with the reason) and its
publication (:class:`Published` or :class:`NotPublished` with the reason): leaving either out is a TypeError when
the table is defined, so no element silently drops out of exports or out of the feed.

Closed sets that are themselves Chinese administrative terms (设定依据层级, 服务对象, 办件类型, 事项形式/层级,
办理项类型) are stored as those terms; the versioned reference tables (types, police types, categories, levels,
regions: ``shared/data/dictionaries``) as their codes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeAlias

# ---- closed sets ----------------------------------------------------------------------------------------------------
# 设定依据的效力层级, highest first (seed 001: 从高到低依次列举).
LEGAL_RANKS = ("法律", "行政法规", "地方性法规", "部门规章", "省级政府规章", "规范性文件")
SERVICE_OBJECTS = ("自然人", "法人", "非法人组织", "行政机关", "其他组织")  # 服务对象
CASE_TYPES = ("即办件", "承诺件")  # 办件类型
ONLINE_SERVICE_DEPTHS: Mapping[int, str] = MappingProxyType({  # 网办深度
    1: "一级：网上公开办事指南", 2: "二级：网上预约或下载表格", 3: "三级：网上申报、线下核验", 4: "四级：全程网办"})
META, COMPOSITE = "元事项", "组合事项"  # 事项形式: indivisible / made of meta items (一件事)
COMPOSITIONS = (META, COMPOSITE)
MAIN, SUB, HANDLING = "主项", "子项", "业务办理项"  # 事项层级: main → sub → handling item (办理项为最小项)
TIERS = (MAIN, SUB, HANDLING)
HANDLING_KINDS = ("新设", "变更", "延续", "注销")  # 办理项类型

# Lengths, counted after trimming: a name, a short name (the source of the name code), a line, a paragraph, a
# statute's text, an item id.
NAME_MAX, SHORT_NAME_MAX, LINE_MAX, TEXT_MAX, LEGAL_TEXT_MAX, ID_MAX = 200, 60, 500, 2000, 10000, 100
TIME_LIMIT_MAX = 3650  # working days: ten years is beyond any statutory limit


# ---- value kinds ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """文本: trimmed, control characters dropped, at most ``max_len`` characters after that. With ``pattern``, the
    whole text must match it, else the problem is MALFORMED with ``malformed`` (``{label}``, ``{value}``)."""

    max_len: int = LINE_MAX
    pattern: str | None = None
    malformed: str = ""


@dataclass(frozen=True)
class Code:
    """字典编码: a code of the reference table ``dictionary`` (a field of shared.dictionaries.Dictionaries), valid on
    the day of the revision. With ``pattern``, a code not matching it is MALFORMED and not looked up."""

    dictionary: str
    pattern: str | None = None
    malformed: str = ""


@dataclass(frozen=True)
class Codes:
    """A list of codes of the reference table ``dictionary``, each valid on the day, none twice."""

    dictionary: str


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (可选值)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Choices:
    """A list of ``values``, none twice; blank entries are dropped."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Integer:
    """整数 from ``minimum`` to ``maximum``; ``grades``: what each value means, when it is a grade
    (网办深度 一级…四级)."""

    minimum: int
    maximum: int
    grades: Mapping[int, str] | None = None


@dataclass(frozen=True)
class IsoDate:
    """日期, ``YYYY-MM-DD``."""


@dataclass(frozen=True)
class Texts:
    """A list of texts (one per line in a sheet), each at most ``max_len`` characters."""

    max_len: int = TEXT_MAX


@dataclass(frozen=True)
class Flag:
    """是/否 (true / false). What a missing flag means is a rule of the object holding it (收费: listing fee items
    says it is charged), so the registry's rules, not the flag's checker, report it."""


@dataclass(frozen=True)
class Reference:
    """Another item, by its id (or, in a sheet, its 来源编号); whether it exists is checked against the store."""


@dataclass(frozen=True)
class References:
    """A list of other items, none twice."""


@dataclass(frozen=True)
class Entries:
    """A list of objects of ``shape`` (设定依据、申请材料、收费项目). ``none_needed``: what an empty list means when it
    is an answer rather than a gap (申请材料 ``[]`` = 无需提交材料; ``null`` = not filled in yet)."""

    shape: Shape
    none_needed: str | None = None


@dataclass(frozen=True)
class Record:
    """One object of ``shape``, filled in as a whole (收费)."""

    shape: Shape


@dataclass(frozen=True)
class Section:
    """A group of elements shown together (办事指南): always present as an object; each field is an element of its
    own (its own column, its own requirement)."""

    shape: Shape


Kind: TypeAlias = (Text | Code | Codes | Choice | Choices | Integer | IsoDate | Texts | Flag | Reference | References
                   | Entries | Record | Section)
LIST_KINDS = (Codes, Choices, Texts, References, Entries)
OBJECT_KINDS = (Entries, Record, Section)


# ---- decisions every field makes ------------------------------------------------------------------------------------
class Required(Enum):
    """When a field must be filled in."""

    OPTIONAL = "optional"
    SUBMISSION = "submission"  # 提交审核前须填写 (missing_for_submission lists it while empty)
    DRAFT = "draft"  # 草稿即须填写: every create and revision (and so every submission); in an entry: whenever the
    # entry is given


OPTIONAL, SUBMISSION, DRAFT = Required.OPTIONAL, Required.SUBMISSION, Required.DRAFT


@dataclass(frozen=True)
class Column:
    """Its own column of the item list (事项清单: template, imports, exports), in table order. ``required``: a file
    without this column is refused (the template marks it); ``note``: the template's hint for whoever fills it in."""

    header: str
    note: str = ""
    required: bool = False


@dataclass(frozen=True)
class InCell:
    """A part of its parent's cell: entries one per line, their fields separated by ``｜`` in table order."""


@dataclass(frozen=True)
class NoColumn:
    """No column, ``because`` …"""

    because: str


@dataclass(frozen=True)
class Published:
    """The national feed publishes it, described for the national platform by ``description``."""

    description: str


@dataclass(frozen=True)
class NotPublished:
    """The national feed leaves it out, ``because`` …"""

    because: str


_DEFAULT_EXAMPLE: Any = object()


@dataclass(frozen=True)
class Field:
    """One element, or one field inside an element (a row of the table below).

    ``default`` is the canonical value when it is not given (``[]`` for lists that are never "not filled in");
    ``doc`` is the OpenAPI description; ``example`` the value in the OpenAPI example (default: ``default``; an object
    without one is assembled from its fields' examples); ``maintainable``: a 维护 revision may change it without
    review; ``code_part``: its position in the item code (事项编码 = 事项类型 + 区划 + 警种 + 服务类别 + 名称编码)."""

    key: str
    label: str  # 中文名
    kind: Kind
    column: Column | InCell | NoColumn
    published: Published | NotPublished
    doc: str
    required: Required = OPTIONAL
    default: Any = None
    maintainable: bool = False
    code_part: int | None = None
    example: Any = _DEFAULT_EXAMPLE

    def __post_init__(self) -> None:
        if not self.key.isidentifier() or not self.label or not self.doc:
            raise ValueError(f"element field {self.key!r}: a key, a Chinese label and an OpenAPI description")
        if not isinstance(self.column, (Column, InCell, NoColumn)):
            raise TypeError(f"element field {self.key!r}: decide its column (Column, InCell or NoColumn(because))")
        if not isinstance(self.published, (Published, NotPublished)):
            raise TypeError(f"element field {self.key!r}: decide its publication (Published or NotPublished(because))")
        if isinstance(self.kind, LIST_KINDS) and self.default not in (None, []):
            raise ValueError(f"element field {self.key!r}: a list defaults to [] or None")
        if isinstance(self.kind, Choice) and self.default is not None and self.default not in self.kind.values:
            raise ValueError(f"element field {self.key!r}: its default is not one of its values")
        if self.code_part is not None and self.required is not DRAFT:
            raise ValueError(f"element field {self.key!r}: a coded element is needed from the first draft on")
        if self.required is DRAFT and self.default is not None:
            raise ValueError(f"element field {self.key!r}: a field required in every draft has no default")

    @property
    def shape(self) -> Shape | None:
        """The fields inside it, if it holds objects."""
        return self.kind.shape if isinstance(self.kind, OBJECT_KINDS) else None

    @property
    def example_value(self) -> Any:
        if self.example is not _DEFAULT_EXAMPLE:
            return self.example
        if isinstance(self.kind, (Section, Record)):
            return {f.key: f.example_value for f in self.kind.shape.fields}
        return [] if self.default == [] else self.default


@dataclass(frozen=True)
class Shape:
    """The fields of an object: the item itself, the service guide, an entry. ``api_model``/``api_doc``: its OpenAPI
    schema name and description; ``published_model``/``published_doc``: the same in the national feed's schema."""

    api_model: str
    api_doc: str | None
    published_model: str
    published_doc: str | None
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        keys = [f.key for f in self.fields]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.api_model}: a key appears twice")

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)


# ---- the table ------------------------------------------------------------------------------------------------------
LEGAL_BASIS_ENTRY = Shape(
    "LegalBasisEntry", ("一条设定依据。列表按效力从高到低排列："
                        "法律 > 行政法规 > 地方性法规 > 部门规章 > 省级政府规章 > 规范性文件，\n"
                        "    顺序不对时返回 LEGAL_BASIS_OUT_OF_ORDER。"),
    "LegalBasis", None, (
        Field("rank", "层级", Choice(LEGAL_RANKS), InCell(),
              Published("效力层级：法律、行政法规、地方性法规、部门规章、省级政府规章、规范性文件"), "效力层级",
              required=DRAFT),
        Field("title", "名称", Text(), InCell(), Published("法律法规或文件名称"), "法律法规或文件名称",
              required=DRAFT),
        Field("article", "条款", Text(), InCell(), Published("条款"), "条款（如 第十条）；提交审核前须填写",
              required=SUBMISSION),
        Field("text", "条文内容", Text(LEGAL_TEXT_MAX), InCell(), Published("条文内容"), "条文内容；提交审核前须填写",
              required=SUBMISSION),
    ))

MATERIAL = Shape(
    "Material", "一种申请材料。", "Material", None, (
        Field("name", "名称", Text(), InCell(), Published("材料名称"), "材料名称", required=DRAFT),
        Field("basis", "依据", Text(), InCell(), Published("材料依据"), "材料依据"),
        Field("format", "格式", Text(), InCell(), Published("格式"), "格式（原件、复印件、电子件……）"),
        Field("copies", "份数", Integer(1, 99), InCell(), Published("份数"), "份数"),
        Field("signature_seal", "签字盖章要求", Text(), InCell(), Published("签字、盖章要求"), "签字、盖章要求"),
    ))

FEE_ITEM = Shape(
    "FeeItem", None, "FeeItem", None, (
        Field("item", "项目", Text(), InCell(), Published("收费项目"), "收费项目", required=DRAFT),
        Field("standard", "标准", Text(), InCell(), Published("收费标准"), "收费标准", required=DRAFT),
        Field("basis", "依据", Text(), InCell(), Published("收费依据"), "收费依据"),
    ))

FEES = Shape(
    "Fees", "收费：不收费时 free 为 true 且不列项目；收费时 free 为 false 并列出项目。", "Fees", None, (
        Field("free", "不收费", Flag(), InCell(), Published("true 表示不收费"), "true 表示不收费", required=DRAFT),
        Field("items", "收费项目", Entries(FEE_ITEM), InCell(), Published("收费项目"), "收费项目、标准和依据",
              default=[]),
    ))

SERVICE_GUIDE = Shape(
    "ServiceGuide",
    "办事指南（公安部 2017 年方案：依据条件、流程时限、收费标准，材料名称、依据、格式份数、签名签章）。",
    "ServiceGuide", None, (
        Field("conditions", "受理条件", Texts(), Column("受理条件", "每行一条"), Published("受理条件"),
              "受理条件，每条一项", required=SUBMISSION, example=["申请人符合本市户籍迁入条件"]),
        Field("materials", "申请材料", Entries(MATERIAL, none_needed="无需提交材料"),
              Column("申请材料", "每行一种：名称｜依据｜格式｜份数｜签字盖章要求；无需材料填“无”"),
              Published("申请材料"),
              "申请材料；null 表示尚未填写，[] 表示无需提交材料", required=SUBMISSION,
              example=[{"name": "居民户口簿", "basis": "《中华人民共和国户口登记条例》第十条", "format": "原件",
                        "copies": 1, "signature_seal": None}]),
        Field("steps", "办理流程", Texts(), Column("办理流程", "每行一步"), Published("办理流程"), "办理流程，每步一项",
              required=SUBMISSION, example=["申请", "受理", "审核", "办结"]),
        Field("statutory_time_limit_days", "法定办结时限（工作日）", Integer(0, TIME_LIMIT_MAX),
              Column("法定办结时限（工作日）"), Published("法定办结时限（工作日）"), "法定办结时限（工作日）",
              required=SUBMISSION, example=20),
        Field("promised_time_limit_days", "承诺办结时限（工作日）", Integer(0, TIME_LIMIT_MAX),
              Column("承诺办结时限（工作日）", "不得超过法定办结时限"), Published("承诺办结时限（工作日）"),
              "承诺办结时限（工作日），不得超过法定办结时限（PROMISED_EXCEEDS_STATUTORY）", required=SUBMISSION,
              example=10),
        Field("fees", "收费", Record(FEES), Column("收费", "填“不收费”，或每行一项：项目｜标准｜依据"),
              Published("收费"),
              "收费或“不收费”", required=SUBMISSION, example={"free": True, "items": []}),
        Field("place", "办理地点", Text(), Column("办理地点"), Published("办理地点"), "办理地点", required=SUBMISSION,
              maintainable=True, example="南沙区政务服务中心公安综合窗口"),
        Field("hours", "办理时间", Text(), Column("办理时间"), Published("办理时间"), "办理时间", required=SUBMISSION,
              maintainable=True, example="工作日 9:00-12:00，13:30-17:00"),
        Field("consultation_contact", "咨询方式", Text(), Column("咨询方式"), Published("咨询方式"), "咨询方式",
              required=SUBMISSION, maintainable=True, example="020-12345678"),
        Field("complaint_contact", "投诉方式", Text(), Column("投诉方式"), Published("投诉方式"), "投诉方式",
              required=SUBMISSION, maintainable=True, example="12345"),
    ))

# The item's elements, in the order the API documents them (also the order of canonical JSON, of diffs and of the
# item list's columns). ★ in a description: an element every level must keep identical.
ITEM = Shape(
    "ItemElements", """事项要素。★ 为各层级必须保持一致的要素。

    草稿（创建与每次修订）只要求前六项（name、short_name、item_type、police_type、service_category、region_code），
    已填写的要素都须合法；提交审核所需的其余要素由 `complete` / `missing` 标明（生命周期服务在 submit 时检查）。
    PUT 时给出完整的要素集合（未给出的要素视为清空）。字典编码须在字典中且当日有效，否则为 UNKNOWN_CODE /
    EXPIRED_CODE。""",
    "PublishedElements", "The published content of an item (事项要素), every element the registry keeps, as reviewed.",
    (
        Field("name", "事项名称", Text(NAME_MAX), Column("事项名称", "同一事项在各层级应使用同一名称", required=True),
              Published("★ 事项名称"), "★ 事项名称（同一事项在各层级、各地区名称一致）", required=DRAFT,
              example="户口迁移审批"),
        Field("short_name", "简称", Text(SHORT_NAME_MAX),
              Column("简称", "事项名称编码取简称的拼音首字母", required=True),
              Published("简称"), "简称（事项名称编码取其拼音首字母）", required=DRAFT, code_part=5,
              example="户口迁移审批"),
        Field("item_type", "事项类型", Code("item_types"), Column("事项类型", required=True),
              Published("★ 事项类型编码"), "★ 事项类型编码（字典 item_types，2 位，如 01 行政许可）", required=DRAFT,
              code_part=1, example="01"),
        Field("police_type", "业务警种", Code("police_types"), Column("业务警种", required=True),
              Published("业务警种编码"), "业务警种编码（字典 police_types，2 位，如 02 户政管理）", required=DRAFT,
              code_part=3, example="02"),
        Field("service_category", "服务类别", Code("service_categories"), Column("服务类别", required=True),
              Published("服务类别编码"), "服务类别编码（字典 service_categories，2 位，如 03 许可审批）",
              required=DRAFT, code_part=4, example="03"),
        Field("region_code", "区划代码", Code("regions", r"\d{6}", "{label}必须是 6 位数字（GB/T 2260）"),
              Column("区划代码", "GB/T 2260 六位代码", required=True), Published("区划代码（GB/T 2260）"),
              "区划代码（GB/T 2260，6 位，当日有效，且在调用人管辖区划内）", required=DRAFT, code_part=2,
              example="440115"),
        Field("competent_department", "主管部门", Text(), Column("主管部门", "全称或规范化简称，前后一致"),
              Published("★ 主管部门"), "★ 主管部门（全称或规范化简称，前后一致）", required=SUBMISSION,
              example="广州市公安局"),
        Field("implementing_agency", "实施机关", Text(), Column("实施机关"), Published("★ 实施机关"), "★ 实施机关",
              required=SUBMISSION, example="广州市公安局南沙区分局"),
        Field("exercise_levels", "行使层级", Codes("exercise_levels"),
              Column("行使层级", "可多选，用“、”分隔，如：省级、地市级"), Published("★ 行使层级编码"),
              "★ 行使层级编码列表（字典 exercise_levels：1 国家级 … 6 村级）", required=SUBMISSION, default=[],
              example=["4"]),
        Field("legal_basis", "设定依据", Entries(LEGAL_BASIS_ENTRY),
              Column("设定依据", "每行一条：层级｜名称｜条款｜条文内容；"
                                 "按 法律、行政法规、地方性法规、部门规章、省级政府规章、规范性文件 从高到低排列"),
              Published("★ 设定依据，按效力从高到低"), "★ 设定依据，按效力从高到低排列", required=SUBMISSION,
              default=[], example=[
                  {"rank": "行政法规", "title": "中华人民共和国户口登记条例", "article": "第十条",
                   "text": ("公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记，"
                            "领取迁移证件，注销户口。")},
                  {"rank": "规范性文件", "title": "广州市户籍迁入管理规定", "article": "第五条", "text": "……"}]),
        Field("service_guide", "办事指南", Section(SERVICE_GUIDE), NoColumn("办事指南的每一项各占一列"),
              Published("办事指南"), "办事指南"),
        Field("service_objects", "服务对象", Choices(SERVICE_OBJECTS), Column("服务对象", "可多选，用“、”分隔"),
              Published("服务对象"), "服务对象", default=[], example=["自然人"]),
        Field("case_type", "办件类型", Choice(CASE_TYPES), Column("办件类型"), Published("办件类型"), "办件类型",
              example="承诺件"),
        Field("online_service_depth", "网办深度", Integer(1, 4, ONLINE_SERVICE_DEPTHS), Column("网办深度"),
              Published("网办深度（1–4）"), "网办深度：1 网上公开办事指南 … 4 全程网办", maintainable=True, example=3),
        Field("planned_effective_date", "计划生效日期", IsoDate(), Column("计划生效日期", "YYYY-MM-DD"),
              Published("计划生效日期"), "计划生效日期（YYYY-MM-DD）", example="2027-01-01"),
        Field("planned_cancel_date", "计划取消日期", IsoDate(), Column("计划取消日期", "YYYY-MM-DD"),
              Published("计划取消日期"), "计划取消日期（YYYY-MM-DD，须晚于计划生效日期）"),
        Field("national_basic_code", "基本编码",
              Text(ID_MAX, r"[0-9A-Z]{12}", "{label}“{value}”必须是 12 位数字或大写字母"),
              Column("基本编码", "国家事项基本编码，12 位数字或大写字母"), Published("国家基本编码"),
              "国家基本编码（12 位数字或大写字母）", maintainable=True),
        Field("national_implementation_code", "实施编码",
              Text(ID_MAX, r"[0-9A-Z]{1,36}", "{label}“{value}”只能包含数字和大写字母，最长 36 位"),
              Column("实施编码", "不超过 36 位数字或大写字母"), Published("国家实施编码"),
              "国家实施编码（≤36 位数字或大写字母）", maintainable=True),
        Field("national_handling_code", "业务办理项编码",
              Text(ID_MAX, r"[0-9A-Z]{1,50}", "{label}“{value}”只能包含数字和大写字母，最长 50 位"),
              Column("业务办理项编码", "不超过 50 位数字或大写字母"), Published("国家业务办理项编码"),
              "国家业务办理项编码（≤50 位数字或大写字母）", maintainable=True),
        Field("composition", "事项形式", Choice(COMPOSITIONS), Column("事项形式", "默认元事项"),
              Published("事项形式：元事项 / 组合事项"), "事项形式：元事项（不可再分）或组合事项", default=META),
        Field("member_item_ids", "成员事项", References(), Column("成员事项", "组合事项的成员（来源编号），用“、”分隔"),
              Published("组合事项的成员事项 ID"), "组合事项的成员事项 ID（至少两个，且都是元事项）", default=[]),
        Field("tier", "事项层级", Choice(TIERS), Column("事项层级", "默认主项"),
              Published("事项层级：主项 / 子项 / 业务办理项"), "事项层级：主项 → 子项 → 业务办理项", default=MAIN),
        Field("parent_item_id", "上级事项", Reference(), Column("上级事项", "子项、业务办理项的上级事项（来源编号）"),
              Published("上级事项 ID"), "上级事项 ID（子项的上级为主项；业务办理项的上级为主项或子项）"),
        Field("handling_kind", "办理项类型", Choice(HANDLING_KINDS), Column("办理项类型"), Published("办理项类型"),
              "办理项类型（仅业务办理项）"),
        Field("serial_predecessor_ids", "串联前置事项", References(),
              Column("串联前置事项", "须先办结的事项（来源编号），用“、”分隔"), Published("串联前置事项 ID"),
              "串联前置事项 ID：须先办结的事项（不得形成循环）", default=[]),
        Field("parallel_item_ids", "并联事项", References(),
              Column("并联事项", "一并办理的事项（来源编号），用“、”分隔"),
              Published("并联事项 ID"), "并联事项 ID：一并办理的事项", default=[]),
    ))
ELEMENTS = ITEM.fields


# ---- reading the table ----------------------------------------------------------------------------------------------
def walk(shape: Shape = ITEM, prefix: str = "") -> Iterator[tuple[str, Field]]:
    """Every field with its path (``service_guide.materials.copies``: entries without an index), parents first,
    in table order."""
    for f in shape.fields:
        path = prefix + f.key
        yield path, f
        if f.shape is not None:
            yield from walk(f.shape, path + ".")


def _label_tree(shape: Shape) -> dict[str, tuple[str, dict[str, Any]]]:
    return {f.key: (f.label, _label_tree(f.shape) if f.shape is not None else {}) for f in shape.fields}


_LABEL_TREE = _label_tree(ITEM)
_INDEXED = re.compile(r"(\w+)\[(\d+)\]")


def label_of(path: str) -> str:
    """The Chinese name of a field path, for every message a person reads (the path itself stays in machine-readable
    fields): ``legal_basis[2].rank`` → ``设定依据第3条·层级``. A key the table does not know is shown as it is."""
    parts = []
    node = _LABEL_TREE
    for segment in path.split("."):
        match = _INDEXED.fullmatch(segment)
        key = match[1] if match else segment
        label, node = node.get(key, (key, {}))
        parts.append(f"{label}第{int(match[2]) + 1}条" if match else label)
    return "·".join(parts)

