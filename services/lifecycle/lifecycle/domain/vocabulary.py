"""The lifecycle's words: phases and steps, commands and the transitions they may make, update stages, unpublish
kinds and national-sync results, each with its Chinese label (seed 000 事项状态 / 事项管理工作, decided in
../shared/docs/domain.md):

形成期 forming (录入 entry, 审核 review) → 上线准备期 preparing (测试 test, 注册 registration) → 在线期 online
(上线 publish, 更新 update, 维护 maintenance, 同步 sync) ⇄ 离线期 offline (下线) → 注销期 cancelled (terminal).

Adding a command or a step starts here; ``tests/unit/test_lifecycle_completeness.py`` names every other place it
must reach."""

from __future__ import annotations

from enum import StrEnum

from shared import contracts

from lifecycle.domain.errors import UnknownPhaseError

# The five phases and their Chinese names are every service's vocabulary (shared.contracts.vocabulary).
Phase = contracts.Phase
PHASE_LABELS = contracts.PHASE_LABELS

def phase_named(name: str) -> Phase:
    """A phase by its English value (``forming``) or its Chinese name (``形成期``), as a person may type either."""
    phase = contracts.phase_named(name)
    if phase is None:
        raise UnknownPhaseError(phase=name, choices=contracts.PHASE_CHOICES)
    return phase


# The elements a code is made of (domain.md "The item code"): changing one after registration re-codes the item.
CODED_ELEMENTS = contracts.CODED_ELEMENTS


class Step(StrEnum):
    """Sub-state inside a phase: which work is going on."""

    none = "none"  # not yet entered
    entry = "entry"  # 录入中
    in_review = "in_review"  # 审核中
    testing = "testing"  # 待测试
    test_failed = "test_failed"  # 测试未通过
    test_passed = "test_passed"  # 测试通过，待注册
    registering = "registering"  # 注册中（编码分配中）
    registered = "registered"  # 已注册（已赋码）
    published = "published"  # 已上线
    update_entry = "update_entry"  # 已上线，更新待提交
    update_in_review = "update_in_review"  # 已上线，更新审核中
    update_recoding = "update_recoding"  # 已上线，更新已通过审核，重新赋码中
    update_approved = "update_approved"  # 已上线，更新已通过审核，待上线
    suspended = "suspended"  # 暂停
    maintenance = "maintenance"  # 维护
    cancelled = "cancelled"  # 已注销


STEP_LABELS = {
    Step.none: "未录入", Step.entry: "录入", Step.in_review: "审核中", Step.testing: "待测试",
    Step.test_failed: "测试未通过", Step.test_passed: "测试通过", Step.registering: "注册中",
    Step.registered: "已注册", Step.published: "已上线", Step.update_entry: "更新待提交",
    Step.update_in_review: "更新审核中", Step.update_recoding: "更新重新赋码中", Step.update_approved: "更新待上线",
    Step.suspended: "暂停", Step.maintenance: "维护", Step.cancelled: "已注销",
}


class UpdateStage(StrEnum):
    """Where a pending update (更新) stands; while online it is also the item's step."""

    received = "received"
    in_review = "in_review"
    recoding = "recoding"
    approved = "approved"


UPDATE_STAGE_LABELS = {"received": "待提交", "in_review": "审核中", "recoding": "重新赋码中", "approved": "待上线"}

ONLINE_STEP = {None: Step.published, UpdateStage.received: Step.update_entry,
               UpdateStage.in_review: Step.update_in_review, UpdateStage.recoding: Step.update_recoding,
               UpdateStage.approved: Step.update_approved}


class Command(StrEnum):
    submit = "submit"
    approve = "approve"
    reject = "reject"
    record_test = "record-test"
    register = "register"
    publish = "publish"
    unpublish = "unpublish"
    resume = "resume"
    cancel = "cancel"


COMMAND_LABELS = {
    Command.submit: "提交审核", Command.approve: "审核通过", Command.reject: "审核退回",
    Command.record_test: "记录测试结果",
    Command.register: "注册", Command.publish: "上线", Command.unpublish: "下线", Command.resume: "重新上线",
    Command.cancel: "注销",
}

# Which commands each (phase, step) allows. Anything else is an illegal transition. Online, submit / approve /
# reject / publish act on the pending update.
ALLOWED: dict[tuple[Phase, Step], frozenset[Command]] = {
    (Phase.forming, Step.entry): frozenset({Command.submit, Command.cancel}),
    (Phase.forming, Step.in_review): frozenset({Command.approve, Command.reject}),
    (Phase.preparing, Step.testing): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_failed): frozenset({Command.record_test, Command.cancel}),
    (Phase.preparing, Step.test_passed): frozenset({Command.register, Command.record_test, Command.cancel}),
    (Phase.preparing, Step.registering): frozenset({Command.cancel}),
    (Phase.preparing, Step.registered): frozenset({Command.publish, Command.cancel}),
    (Phase.online, Step.published): frozenset({Command.unpublish}),
    (Phase.online, Step.update_entry): frozenset({Command.submit, Command.unpublish}),
    (Phase.online, Step.update_in_review): frozenset({Command.approve, Command.reject, Command.unpublish}),
    (Phase.online, Step.update_recoding): frozenset({Command.unpublish}),
    (Phase.online, Step.update_approved): frozenset({Command.publish, Command.unpublish}),
    (Phase.offline, Step.suspended): frozenset({Command.resume, Command.cancel}),
    (Phase.offline, Step.maintenance): frozenset({Command.resume, Command.cancel}),
}
# Every (phase, step) an item can be in: the table's, the terminal one, and "not entered yet".
LEGAL_STATES = frozenset(ALLOWED) | {(Phase.cancelled, Step.cancelled), (None, Step.none)}


class UnpublishKind(StrEnum):
    suspension = "suspension"  # 暂停
    maintenance = "maintenance"  # 维护


class SyncResult(StrEnum):
    acknowledged = "acknowledged"  # 国家平台已接收
    rejected = "rejected"  # 国家平台退回


SYNC_RESULT_LABELS = {SyncResult.acknowledged: "国家平台已接收", SyncResult.rejected: "国家平台退回"}
