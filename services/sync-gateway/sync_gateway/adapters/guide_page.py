"""The printable page of an item's public guide (办事指南): server-rendered Chinese HTML with its own print CSS, no
script and no external asset (a page printed or saved is whole). Every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = """
body{font-family:"Noto Serif CJK SC","Source Han Serif SC","SimSun",serif;margin:2em auto;max-width:48em;
line-height:1.6;color:#111;padding:0 1em}
h1{font-size:1.6em;text-align:center;margin-bottom:.2em}
.meta{text-align:center;color:#444;font-size:.9em;margin-bottom:1.5em}
h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.4em;padding-bottom:.1em}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3em .5em;text-align:left;
vertical-align:top}th{background:#f2f2f2;width:10em}
ol,ul{margin:.3em 0;padding-left:1.6em}
.empty{color:#666}
@page{size:A4;margin:18mm 16mm}
@media print{body{margin:0;max-width:none;padding:0}h2{break-after:avoid}tr,li{break-inside:avoid}
.meta{color:#000}}
"""


def _text(value: Any) -> str:
    return '<span class="empty">（无）</span>' if value in (None, "", []) else escape(str(value))


def _list(values: list[Any] | None) -> str:
    if not values:
        return '<p class="empty">（无）</p>'
    return "<ol>" + "".join(f"<li>{escape(str(v))}</li>" for v in values) + "</ol>"


def _materials(materials: list[dict[str, Any]] | None) -> str:
    if materials is None:
        return '<p class="empty">（无）</p>'
    if not materials:
        return "<p>无需提交材料</p>"
    rows = "".join(
        f"<tr><td>{i}</td><td>{_text(m.get('name'))}</td><td>{_text(m.get('basis'))}</td>"
        f"<td>{_text(m.get('format'))}</td><td>{_text(m.get('copies'))}</td><td>{_text(m.get('signature_seal'))}</td>"
        "</tr>" for i, m in enumerate(materials, start=1))
    return ("<table><thead><tr><th>序号</th><th>材料名称</th><th>依据</th><th>格式</th><th>份数</th>"
            f"<th>签字盖章要求</th></tr></thead><tbody>{rows}</tbody></table>")


def _fees(fees: dict[str, Any] | None) -> str:
    if not fees:
        return '<p class="empty">（无）</p>'
    if fees.get("free"):
        return "<p>不收费</p>"
    rows = "".join(f"<tr><td>{_text(f.get('item'))}</td><td>{_text(f.get('standard'))}</td>"
                   f"<td>{_text(f.get('basis'))}</td></tr>" for f in fees.get("items") or [])
    return ("<table><thead><tr><th>收费项目</th><th>收费标准</th><th>收费依据</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _legal_basis(entries: list[dict[str, Any]] | None) -> str:
    if not entries:
        return '<p class="empty">（无）</p>'
    return "<ol>" + "".join(
        f"<li>{_text(e.get('title'))} {_text(e.get('article')) if e.get('article') else ''}"
        f"{'：' + escape(str(e['text'])) if e.get('text') else ''}（{_text(e.get('rank'))}）</li>"
        for e in entries) + "</ol>"


def render_guide_page(guide: dict[str, Any]) -> str:
    """The page of one public guide (``domain.catalogue.public_guide``)."""
    elements: dict[str, Any] = guide.get("elements") or {}
    sg: dict[str, Any] = guide.get("service_guide") or {}
    name = escape(str(guide.get("name") or ""))
    basics = "".join(f"<tr><th>{label}</th><td>{_text(value)}</td></tr>" for label, value in (
        ("事项名称", guide.get("name")), ("事项编码", guide.get("code")), ("区划代码", guide.get("region_code")),
        ("事项类型编码", elements.get("item_type")), ("业务警种编码", elements.get("police_type")),
        ("主管部门", elements.get("competent_department")), ("实施机关", elements.get("implementing_agency")),
        ("办件类型", elements.get("case_type")), ("网办深度", elements.get("online_service_depth")),
        ("法定办结时限（工作日）", sg.get("statutory_time_limit_days")),
        ("承诺办结时限（工作日）", sg.get("promised_time_limit_days")),
        ("办理地点", sg.get("place")), ("办理时间", sg.get("hours")),
        ("咨询方式", sg.get("consultation_contact")), ("投诉方式", sg.get("complaint_contact"))))
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{name} — 办事指南</title><style>{_CSS}</style></head><body>"
        f"<h1>{name}</h1><p class=\"meta\">办事指南 · 事项编码 {_text(guide.get('code'))} · "
        f"第 {_text(guide.get('revision'))} 版 · 生效 {_text(guide.get('effective_at'))}</p>"
        f"<h2>基本信息</h2><table><tbody>{basics}</tbody></table>"
        f"<h2>受理条件</h2>{_list(sg.get('conditions'))}"
        f"<h2>申请材料</h2>{_materials(sg.get('materials'))}"
        f"<h2>办理流程</h2>{_list(sg.get('steps'))}"
        f"<h2>收费</h2>{_fees(sg.get('fees'))}"
        f"<h2>设定依据</h2>{_legal_basis(elements.get('legal_basis'))}"
        "</body></html>")
