"""Words every service uses about an item, defined once (domain.md): the five lifecycle phases, the elements an
item code is made of and the fields a 维护 (maintenance) may change. The lifecycle decides phases, the registry and
the sync gateway follow them from events; coding, lifecycle and registry all need to know which elements are coded,
and the registry and the lifecycle which fields are maintainable (both read off the element table,
shared/contracts/elements.py)."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.elements import walk


class Phase(StrEnum):
    """事项状态: the five lifecycle phases (seed 000)."""

    forming = "forming"
    preparing = "preparing"
    online = "online"
    offline = "offline"
    cancelled = "cancelled"


PHASE_LABELS: dict[str, str] = {
    Phase.forming: "形成期",
    Phase.preparing: "上线准备期",
    Phase.online: "在线期",
    Phase.offline: "离线期",
    Phase.cancelled: "注销期",
}
PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
# How a list names the phases a person may type: 形成期（forming）、…
PHASE_CHOICES = "、".join(f"{label}（{phase}）" for phase, label in PHASE_LABELS.items())


def phase_named(name: str) -> Phase | None:
    """A phase by its English value (``forming``) or its Chinese name (``形成期``), as a person may type either; None
    when the name is neither."""
    text = name.strip()
    return next((phase for phase in Phase if text in (phase.value, PHASE_LABELS[phase])), None)

# The phases in which an item has content the national platform has seen (a change is an update, reviewed first).
PUBLISHED_PHASES: tuple[str, ...] = (Phase.online.value, Phase.offline.value)

# 事项编码 = 事项类型编码 + 区划代码 + 业务警种编码 + 服务类别编码 + 事项名称编码 (from the 简称): the elements a code
# is made of, in code order. Changing one after registration re-codes the item (domain.md "The item code").
_CODE_PARTS = {f.code_part: path for path, f in walk() if f.code_part is not None}
CODED_ELEMENTS: tuple[str, ...] = tuple(_CODE_PARTS[part] for part in sorted(_CODE_PARTS))
# 维护 (maintenance): the field paths (``service_guide.place``) a non-substantive fix may change without a new review
# — where and when to go, whom to ask, the online depth and the national platform's codes. Any other change changes
# what an applicant must do: an update (更新), reviewed.
MAINTAINABLE_PATHS: frozenset[str] = frozenset(path for path, f in walk() if f.maintainable)
