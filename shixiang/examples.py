"""A complete, realistic item (every element review needs), for demos, end-to-end tests and benchmarks.
The same content is in docs/examples/hukou.json for curl."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "hukou.json"

HUKOU: dict[str, Any] = {
    "name": "户口迁移审批", "short_name": "户口迁移审批", "item_type": "01", "police_type": "02",
    "service_category": "03", "region_code": "440115",
    "competent_department": "广州市公安局", "implementing_agency": "广州市公安局南沙区分局",
    "exercise_levels": ["3", "4"],
    "legal_basis": [
        {"rank": "法律", "title": "中华人民共和国居民身份证法", "article": "第八条",
         "text": "居民身份证由居民常住户口所在地的县级人民政府公安机关签发。"},
        {"rank": "行政法规", "title": "中华人民共和国户口登记条例", "article": "第十条",
         "text": "公民迁出本户口管辖区，由本人或者户主在迁出前向户口登记机关申报迁出登记。"},
    ],
    "service_guide": {
        "conditions": ["申请人符合本市户籍迁入条件"],
        "materials": [{"name": "居民户口簿", "basis": "《中华人民共和国户口登记条例》第十条", "format": "原件",
                       "copies": 1, "signature_seal": None}],
        "steps": ["申请", "受理", "审核", "办结"],
        "statutory_time_limit_days": 20, "promised_time_limit_days": 10, "fees": {"free": True, "items": []},
        "place": "南沙区政务服务中心公安综合窗口", "hours": "工作日 9:00-12:00，13:30-17:00",
        "consultation_contact": "020-12345678", "complaint_contact": "12345",
    },
    "service_objects": ["自然人"], "case_type": "承诺件",
}


def complete_item(**changes: Any) -> dict[str, Any]:
    """The example with some elements changed, e.g. ``complete_item(name="普通护照签发", short_name=…)``."""
    return {**copy.deepcopy(HUKOU), **changes}


def write_example_file() -> None:  # pragma: no cover - used when the example changes
    EXAMPLE_FILE.write_text(json.dumps(HUKOU, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write_example_file()
