"""The import template: an xlsx with the columns of registry/domain/tabular.py, the reference tables as drop-downs and
a sheet of filling notes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.contracts.elements import (
    CASE_TYPES,
    COMPOSITIONS,
    HANDLING_KINDS,
    ONLINE_SERVICE_DEPTHS,
    TIERS,
)
from shared.dictionaries import Dictionaries

from registry.adapters.spreadsheets.formats import SHEET
from registry.adapters.spreadsheets.writing import column_widths
from registry.domain import tabular
from registry.domain.problems import PROBLEM_CODES

TEMPLATE_ROWS = 5000  # rows that carry the drop-downs (a whole column would make Excel slow)


def write_template(path: Path, dictionaries: Dictionaries, *, regions: list[str], today: date) -> None:
    """The import template: Chinese headers (required ones in red, each with its filling note as a comment), the
    reference tables as drop-downs fed from a hidden 字典 sheet, the caller's own regions only, and a 填写说明 sheet."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = SHEET
    lists = book.create_sheet("字典")
    guide = book.create_sheet("填写说明")
    column_widths(sheet)
    sheet.freeze_panes = "C2"
    for i, column in enumerate(tabular.COLUMNS, start=1):
        cell = sheet.cell(row=1, column=i, value=column.header)
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        if column.note:
            cell.comment = Comment(column.note, "事项管理系统")
    choices = _template_choices(dictionaries, regions, today)
    for list_index, (header, values) in enumerate(choices.items(), start=1):
        letter = get_column_letter(list_index)
        lists.cell(row=1, column=list_index, value=header)
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=list_index, value=value)
        target = get_column_letter(tabular.HEADERS.index(header) + 1)
        # Warning style: a value typed by hand (a bare code) is allowed after a prompt; the import reads it.
        validation = DataValidation(type="list", formula1=f"=字典!${letter}$2:${letter}${len(values) + 1}",
                                    allow_blank=True, errorStyle="warning", showErrorMessage=True,
                                    errorTitle=header, error=f"请从下拉列表中选择{header}")
        validation.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
        sheet.add_data_validation(validation)
    lists.sheet_state = "hidden"
    guide.append(["列名", "是否必填", "填写说明"])
    for column in tabular.COLUMNS:
        guide.append([column.header, "必填" if column.required else "", column.note])
    guide.append([])
    guide.append(["问题代码", "含义"])
    for code, meaning in PROBLEM_CODES.items():
        guide.append([code, meaning])
    guide.column_dimensions["A"].width = 28
    guide.column_dimensions["C"].width = 90
    book.save(path)


def _template_choices(dictionaries: Dictionaries, regions: list[str], today: date) -> dict[str, list[str]]:
    def table(name: str) -> list[str]:
        return [f"{e.code} {e.label}" for e in dictionaries.by_name(name).entries.values() if e.valid_on(today)]

    in_scope = [f"{e.code} {e.label}" for e in dictionaries.regions.entries.values()
                if e.valid_on(today) and any(p == "*" or e.code.startswith(p) for p in regions)]
    return {
        "事项类型": table("item_types"), "业务警种": table("police_types"), "服务类别": table("service_categories"),
        "区划代码": in_scope, "办件类型": list(CASE_TYPES),
        "网办深度": [f"{k} {v}" for k, v in ONLINE_SERVICE_DEPTHS.items()], "事项形式": list(COMPOSITIONS),
        "事项层级": list(TIERS), "办理项类型": list(HANDLING_KINDS),
    }
