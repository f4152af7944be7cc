"""Words every service uses about an item, defined once (domain.md): the five lifecycle phases and the elements an
item code is made of. The lifecycle decides phases, the registry and the sync gateway follow them from events, and
coding, lifecycle and registry all need to know which elements are coded."""

from __future__ import annotations

from enum import StrEnum


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
# The phases in which an item has content the national platform has seen (a change is an update, reviewed first).
PUBLISHED_PHASES: tuple[str, ...] = (Phase.online.value, Phase.offline.value)

# 事项编码 = 事项类型编码 + 区划代码 + 业务警种编码 + 服务类别编码 + 事项名称编码 (from the 简称): the elements a code is
# made of. Changing one after registration re-codes the item (domain.md "The item code").
CODED_ELEMENTS: tuple[str, ...] = ("item_type", "region_code", "police_type", "service_category", "short_name")
