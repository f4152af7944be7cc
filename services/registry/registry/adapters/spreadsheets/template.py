"""The import template: an xlsx with the columns of registry/domain/tabular.py, the reference tables as drop-downs and
a sheet of filling notes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.contracts.elements import ONLINE_SERVICE_DEPTHS
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
        # Warning style: a value typed by hand (a bare code, several values of a list) is allowed after a prompt;
        # the import reads it.
        several = tabular.COLUMNS[tabular.HEADERS.index(header)].kind in (tabular.DICT_LIST, tabular.CHOICE_LIST)
        hint = f"；可多选，用“、”分隔（如 {'、'.join(values[:2])}）" if several else ""
        validation = DataValidation(type="list", formula1=f"=字典!${letter}$2:${letter}${len(values) + 1}",
                                    allow_blank=True, errorStyle="warning", showErrorMessage=True,
                                    errorTitle=header, error=f"请从下拉列表中选择{header}{hint}")
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
    """Header → the values of its drop-down, for every column of a closed set (derived from the column's kind, so
    a new coded or choice element gets its drop-down): reference tables as the sheet writes them (``code label``;
    a list of codes by their names, as in 行使层级 ``省级、地市级``), valid today, regions only the caller's own;
    choices as they are; 网办深度 by grade."""
    choices: dict[str, list[str]] = {}
    for column in tabular.COLUMNS:
        match column.kind:
            case tabular.DICT | tabular.DICT_LIST:
                entries = [e for e in dictionaries.by_name(str(column.source)).entries.values() if e.valid_on(today)]
                if column.source == "regions":
                    entries = [e for e in entries if any(p == "*" or e.code.startswith(p) for p in regions)]
                choices[column.header] = [e.label if column.kind == tabular.DICT_LIST else f"{e.code} {e.label}"
                                          for e in entries]
            case tabular.CHOICE | tabular.CHOICE_LIST:
                choices[column.header] = list(column.source)
            case tabular.DEPTH:
                choices[column.header] = [f"{k} {v}" for k, v in ONLINE_SERVICE_DEPTHS.items()]
    return choices
