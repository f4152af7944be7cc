"""The element specification (shared/contracts/elements.py) and everything derived from it: every field decides its
label, column and publication; the columns, the OpenAPI models, the published elements, the coded and maintainable
sets are exactly the table's; and a step forgotten when a field is added fails here, not in production."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel

from shared import contracts
from shared.contracts import elements as spec
from shared.contracts.elements import Column, Field, InCell, NoColumn, NotPublished, Published, Shape, Text, label_of
from shared.contracts.feed import PublishedElements, published_model_of
from shared.dictionaries import Dictionaries, load_dictionaries
from tests.integration.test_registry_helpers import FULL

from registry.adapters.schemas import ItemElements, model_of
from registry.bootstrap import create_app
from registry.domain import elements, tabular
from registry.domain.elements import RULES, compile_plan, missing_for_submission, validate_elements
from registry.domain.revisions import MAINTENANCE_FIELDS

DICTIONARIES = load_dictionaries()
TODAY = date(2026, 11, 22)
PATHS = [path for path, _ in spec.walk()]


def fields_of(model: type[BaseModel], path: str = "") -> set[str]:
    """Every field path of a model and of the models inside it (lists of models included)."""
    paths = set()
    for name, info in model.model_fields.items():
        paths.add(path + name)
        for inner in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for candidate in (inner, *getattr(inner, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    paths |= fields_of(candidate, f"{path}{name}.")
    return paths


def a_field(*, leave_out: str = "", **changes: Any) -> Field:
    given: dict[str, Any] = {"key": "remark", "label": "备注", "kind": Text(), "column": Column("备注"),
                             "published": Published("备注"), "doc": "备注", **changes}
    given.pop(leave_out, None)
    return Field(**given)


# ---- every field decides -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_every_field_has_a_label_a_column_decision_and_a_publication_decision(path: str) -> None:
    field = dict(spec.walk())[path]
    assert field.label and field.doc
    assert isinstance(field.column, (Column, InCell, NoColumn))
    assert isinstance(field.published, (Published, NotPublished))
    if isinstance(field.column, NoColumn):
        assert field.column.because
    if isinstance(field.published, NotPublished):
        assert field.published.because


def test_a_field_without_a_column_or_publication_decision_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match="column"):
        a_field(leave_out="column")
    with pytest.raises(TypeError, match="published"):
        a_field(leave_out="published")
    with pytest.raises(TypeError, match="column"):
        a_field(column="备注")
    with pytest.raises(TypeError, match="publication"):
        a_field(published=True)


def test_a_field_contradicting_itself_cannot_be_defined() -> None:
    with pytest.raises(ValueError, match="label"):
        a_field(label="")
    with pytest.raises(ValueError, match="default"):
        a_field(kind=spec.Choice(("甲", "乙")), default="丙")
    with pytest.raises(ValueError, match="coded"):
        a_field(code_part=6)
    with pytest.raises(ValueError, match="list"):
        a_field(kind=spec.Texts(), default="")
    with pytest.raises(ValueError, match="twice"):
        Shape("X", None, "X", None, (a_field(), a_field()))


def test_a_column_lies_only_where_a_row_has_one_cell_per_field() -> None:
    """Fields inside entries and records are parts of their parent's cell; fields of a section have their own."""
    for path, field in spec.walk():
        shape = field.shape
        if shape is None:
            continue
        for inner in shape.fields:
            if isinstance(field.kind, spec.Section):
                assert not isinstance(inner.column, InCell), f"{path}.{inner.key}: a section's field is an element"
            else:
                assert isinstance(inner.column, InCell), f"{path}.{inner.key}: part of the {field.label} cell"
                assert isinstance(field.column, (Column, InCell)), f"{path}: its entries need a cell"


def test_every_dictionary_and_closed_set_the_table_names_exists() -> None:
    tables = {f.name for f in dataclasses.fields(Dictionaries)}
    for path, field in spec.walk():
        if isinstance(field.kind, (spec.Code, spec.Codes)):
            assert field.kind.dictionary in tables, path
        if isinstance(field.kind, (spec.Choice, spec.Choices)):
            assert field.kind.values and len(set(field.kind.values)) == len(field.kind.values), path


# ---- derived: columns -----------------------------------------------------------------------------------------------
def test_the_columns_are_the_fields_with_a_column_in_table_order_after_the_rows_key() -> None:
    with_column = [(path, f.column) for path, f in spec.walk() if isinstance(f.column, Column)]
    assert [c.field for c in tabular.COLUMNS] == ["source_ref", *(path for path, _ in with_column)]
    assert [(c.header, c.note, c.required) for c in tabular.COLUMNS[1:]] == [
        (c.header, c.note, c.required) for _, c in with_column]
    assert len(set(tabular.HEADERS)) == len(tabular.HEADERS)
    assert tabular.missing_headers([]) == [
        "来源编号", "事项名称", "简称", "事项类型", "业务警种", "服务类别", "区划代码"]


def test_an_entry_columns_note_names_the_entry_fields_in_their_order() -> None:
    """The template tells people the order of the ｜-separated parts: it is the table's order."""
    for path, field in spec.walk():
        if isinstance(field.column, Column) and isinstance(field.kind, (spec.Entries, spec.Record)):
            entry = field.kind.shape
            if isinstance(field.kind, spec.Record):  # 收费: 不收费, or its items
                entry = next(f.kind.shape for f in entry.fields if isinstance(f.kind, spec.Entries))
            assert "｜".join(f.label for f in entry.fields) in field.column.note, path


def test_a_field_whose_cell_format_is_unknown_fails_when_the_columns_are_built() -> None:
    """Forgotten step: a new kind of object needs a cell format in tabular.py."""
    note = Shape("Note", None, "Note", None, (a_field(column=InCell()),))
    shape = dataclasses.replace(spec.ITEM, fields=(*spec.ELEMENTS, a_field(
        key="notes", kind=spec.Entries(note), column=Column("备注"), default=[])))
    with pytest.raises(TypeError, match="no cell format"):
        tabular.columns_of(shape)
    plain = dataclasses.replace(spec.ITEM, fields=(*spec.ELEMENTS, a_field()))
    assert tabular.columns_of(plain)[-1] == tabular.Column("备注", "remark", tabular.TEXT)


def test_an_item_with_every_column_filled_survives_an_export_and_an_import() -> None:
    """A field dropped from the columns would come back empty here."""
    raw = copy.deepcopy(FULL)
    raw.update(planned_cancel_date="2030-01-01", national_implementation_code="ABC123",
               national_handling_code="H1", composition="组合事项", member_item_ids=["M-1", "M-2"], tier="业务办理项",
               parent_item_id="P-1", handling_kind="新设", serial_predecessor_ids=["S-1"], parallel_item_ids=["Q-1"])
    raw["service_guide"]["fees"] = {"free": False, "items": [{"item": "工本费", "standard": "10元", "basis": "文件"}]}
    elements_before, problems = validate_elements(raw, DICTIONARIES, TODAY)
    assert problems == []
    assert [c.field for c in tabular.COLUMNS[1:] if _at(elements_before, c.field) in (None, [])] == []
    cells = dict(zip(tabular.HEADERS, tabular.format_row("R-1", elements_before, DICTIONARIES, {}), strict=True))
    parsed = tabular.parse_row(cells, DICTIONARIES)
    assert parsed.problems == []
    assert validate_elements(parsed.elements, DICTIONARIES, TODAY) == (elements_before, [])


def _at(elements: dict[str, Any], path: str) -> Any:
    head, _, tail = path.partition(".")
    return (elements.get(head) or {}).get(tail) if tail else elements.get(head)


# ---- derived: validation --------------------------------------------------------------------------------------------
def test_validation_gives_every_field_of_the_table_in_its_order() -> None:
    canonical, _ = validate_elements({}, DICTIONARIES, TODAY)
    assert tuple(canonical) == spec.ITEM.keys
    assert tuple(canonical["service_guide"]) == spec.SERVICE_GUIDE.keys
    assert elements.MINIMAL_ELEMENTS == ("name", "short_name", "item_type", "police_type", "service_category",
                                         "region_code")
    full, _ = validate_elements(FULL, DICTIONARIES, TODAY)
    assert tuple(full["legal_basis"][0]) == spec.LEGAL_BASIS_ENTRY.keys
    assert tuple(full["service_guide"]["materials"][0]) == spec.MATERIAL.keys
    assert tuple(full["service_guide"]["fees"]) == spec.FEES.keys


def test_a_rule_anchored_at_no_field_fails_when_the_checks_are_compiled() -> None:
    """Forgotten step: renaming a field a rule runs after would otherwise switch the rule off silently."""
    assert compile_plan(spec.ITEM, RULES)
    with pytest.raises(ValueError, match="no field"):
        compile_plan(spec.ITEM, (*RULES, ("service_guide.fee", RULES[0][1])))
    with pytest.raises(ValueError, match="no field"):
        compile_plan(spec.ITEM, (("legal_basis.rank", RULES[0][1]),))  # inside entries: not supported


def test_a_requirement_the_checks_cannot_enforce_fails_when_they_are_compiled() -> None:
    shape = dataclasses.replace(spec.ITEM, fields=(*spec.ELEMENTS, a_field(kind=spec.Texts(), required=spec.DRAFT)))
    with pytest.raises(ValueError, match="cannot yet require"):
        compile_plan(shape, RULES)


def test_what_review_needs_is_what_the_table_requires() -> None:
    canonical, _ = validate_elements({}, DICTIONARIES, TODAY)
    assert missing_for_submission(canonical) == [
        *(f.key for f in spec.ELEMENTS if f.required is not spec.OPTIONAL),
        *(f"service_guide.{f.key}" for f in spec.SERVICE_GUIDE.fields if f.required is not spec.OPTIONAL)]
    with_entry, _ = validate_elements({"legal_basis": [{"rank": "法律", "title": "t"}]}, DICTIONARIES, TODAY)
    assert [p for p in missing_for_submission(with_entry) if p.startswith("legal_basis")] == [
        f"legal_basis[0].{f.key}" for f in spec.LEGAL_BASIS_ENTRY.fields if f.required is spec.SUBMISSION]


# ---- derived: labels ------------------------------------------------------------------------------------------------
def test_a_path_is_labelled_field_by_field_in_the_context_of_its_element() -> None:
    assert label_of("legal_basis[2].rank") == "设定依据第3条·层级"
    assert label_of("service_guide.materials[0].name") == "办事指南·申请材料第1条·名称"  # not the item's 事项名称
    assert label_of("service_guide.fees.items[1].basis") == "办事指南·收费·收费项目第2条·依据"
    assert label_of("service_guide.unknown") == "办事指南·unknown"
    assert elements.LABELS["service_guide.materials.name"] == "名称"
    assert all(elements.LABELS[path] for path in PATHS)


# ---- derived: OpenAPI and the published elements ------------------------------------------------------------------
def test_the_api_models_are_the_table_and_nothing_else() -> None:
    assert fields_of(ItemElements) == set(PATHS)
    assert [name for name, info in ItemElements.model_fields.items() if info.is_required()] == list(
        elements.MINIMAL_ELEMENTS)


def test_the_openapi_document_shows_the_tables_names_enums_and_requirements() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    for shape in (spec.ITEM, spec.SERVICE_GUIDE, spec.LEGAL_BASIS_ENTRY, spec.MATERIAL, spec.FEES, spec.FEE_ITEM):
        schema = schemas[shape.api_model]
        assert list(schema["properties"]) == list(shape.keys)
        assert schema.get("required", []) == [f.key for f in shape.fields if f.required is spec.DRAFT]
        assert [p["description"] for p in schema["properties"].values()] == [f.doc for f in shape.fields]
    assert schemas["ItemElements"]["properties"]["tier"]["enum"] == list(spec.TIERS)
    assert schemas["ItemElements"]["example"]["service_guide"]["fees"] == {"free": True, "items": []}


def test_the_published_elements_are_the_fields_the_table_publishes() -> None:
    published = {path for path, f in spec.walk() if isinstance(f.published, Published)}
    assert fields_of(PublishedElements) == published == set(PATHS)  # today every element is published


def test_a_new_field_appears_in_the_api_and_in_the_feed_unless_the_table_says_otherwise() -> None:
    shape = dataclasses.replace(spec.ITEM, fields=(
        *spec.ELEMENTS, a_field(), a_field(key="internal_note", published=NotPublished("内部备注，不对外"))))
    assert {"remark", "internal_note"} <= set(model_of(shape).model_fields)
    published = published_model_of(shape).model_fields
    assert "remark" in published and "internal_note" not in published
    assert published["remark"].description == "备注"


# ---- derived: the vocabulary -------------------------------------------------------------------------------------
def test_the_coded_elements_are_the_code_parts_in_code_order() -> None:
    assert contracts.CODED_ELEMENTS == ("item_type", "region_code", "police_type", "service_category", "short_name")
    parts = sorted(f.code_part for _, f in spec.walk() if f.code_part is not None)
    assert parts == list(range(1, len(parts) + 1))


def test_the_maintainable_paths_are_the_tables_and_the_registry_uses_them() -> None:
    maintainable = contracts.MAINTAINABLE_PATHS
    assert maintainable == {
        "service_guide.place", "service_guide.hours", "service_guide.consultation_contact",
        "service_guide.complaint_contact", "online_service_depth", "national_basic_code",
        "national_implementation_code", "national_handling_code"}
    assert MAINTENANCE_FIELDS is maintainable
    assert maintainable <= set(PATHS)
