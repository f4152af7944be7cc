"""Sync-gateway HTTP routes (thin: parse → one service-layer call → shape the response): the national feed, the
catalogue snapshot and national feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.cloudevents import BATCH_CONTENT_TYPE
from shared.http import INT4_MAX, INT8_MAX, CorrelationId, CurrentPrincipal, ServiceRoute, error_responses

from sync_gateway.domain.feedback import Feedback, FeedbackResult
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.feed import NationalFeed
from sync_gateway.service_layer.feedback import NationalFeedback

router = APIRouter(prefix="/sync/v1", tags=["sync 国家平台同步"], responses=error_responses(ERRORS),
                   route_class=ServiceRoute)


# The getters are ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request.
async def get_national_feed(request: Request) -> NationalFeed:
    feed: NationalFeed = request.app.state.national_feed
    return feed


async def get_national_feedback(request: Request) -> NationalFeedback:
    feedback: NationalFeedback = request.app.state.national_feedback
    return feedback


NationalFeedDep = Annotated[NationalFeed, Depends(get_national_feed)]
# The feed's epoch a caller follows (the X-Feed-Epoch of its earlier answers): a gone one is answered 410.
EpochQuery = Annotated[str | None, Query(max_length=64,
                                         description="同步源纪元：上次响应的 X-Feed-Epoch；已失效时返回 410")]
EPOCH_HEADER = "X-Feed-Epoch"
NationalFeedbackDep = Annotated[NationalFeedback, Depends(get_national_feedback)]


@router.get(
    "/feed",
    summary="国家平台同步源：按序的 CloudEvents 批（只含已发布内容，绝无草稿）",
    description=(
        "返回 application/cloudevents-batch+json 数组（FeedEntry），每条的 subject 为事项 ID，sequence 为游标，"
        "data 为对外发布记录（PublishedItemRecord：变更 change、同步类型 operation、状态、编码、对外要素），"
        "从不包含内部事件的内容。下一次请求用 after=<响应头 X-Next-Cursor>；到达末尾返回 []。"
        "wait=秒 为长轮询：无新条目时最多等待这么久。字段说明见 docs/events.md。"
        "区划：令牌 regions 为 *（全国，国家平台的令牌）时返回全部条目；其他调用人只得到其管辖区划内事项的条目，"
        "X-Next-Cursor 越过其他区划的条目（不会停滞，也不会重复读到）。区划受限的调用人一次最多查看 100,000 条："
        "返回 [] 而 X-Next-Cursor 前移，表示其间没有本人区划的条目，用新游标继续读取即可。"
        "纪元：每个响应带 X-Feed-Epoch（同步源纪元）。游标只在同一纪元内有效：请求带 epoch=<上次的 X-Feed-Epoch>，"
        "纪元已变（同步源被重建，如开发环境 --fresh 或恢复备份后）时返回 410 FEED_EPOCH_CHANGED，"
        "应从 /sync/v1/snapshot 重新开始；不带 epoch= 时不作检查。同一纪元内 after= 超过末尾不是错误："
        "返回 []，X-Next-Cursor 不变，直到新条目越过它。"
    ),
    response_class=Response,
    responses={200: {"content": {BATCH_CONTENT_TYPE: {"schema": {
        "type": "array", "items": {"$ref": "#/components/schemas/FeedEntry"}}}}, "description": "CloudEvents 批"},
        **error_responses(ERRORS, statuses=(410,))},
)
async def feed(
    national_feed: NationalFeedDep, principal: CurrentPrincipal,
    after: Annotated[int, Query(ge=0, le=INT8_MAX, description="游标：上一批最后一条的 sequence（从 0 开始）")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[float, Query(ge=0, allow_inf_nan=False, description="长轮询秒数")] = 0.0,
    epoch: EpochQuery = None,
) -> Response:
    page = await national_feed.read(principal, after=after, limit=limit, wait_s=wait, epoch=epoch)
    next_cursor = str(page.cursor)
    return Response(
        content="[" + ",".join(entry for _, entry in page.entries) + "]",
        media_type=BATCH_CONTENT_TYPE,
        headers={"X-Next-Cursor": next_cursor, EPOCH_HEADER: page.epoch,
                 "Link": f'</sync/v1/feed?after={next_cursor}&limit={limit}&epoch={page.epoch}>; rel="next"'},
    )


@router.get("/snapshot", summary="当前已上线事项目录快照，及继续读取同步源的游标",
            description="令牌 regions 为 *（全国）时列出全部已上线事项；其他调用人只列其管辖区划内的事项。"
                        "响应头 X-Feed-Epoch 与响应体 epoch 为同步源纪元：读后续页时带 epoch=，之后读同步源时也带上它；"
                        "纪元已变时返回 410 FEED_EPOCH_CHANGED，应从第一页重新开始。",
            responses=error_responses(ERRORS, statuses=(410,)))
async def get_snapshot(
    national_feed: NationalFeedDep, principal: CurrentPrincipal, response: Response,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    after_item: Annotated[str | None, Query(description="分页：上一页最后一个事项 ID")] = None,
    epoch: EpochQuery = None,
) -> dict[str, object]:
    items, cursor, current = await national_feed.snapshot(principal, limit=limit, after_item=after_item, epoch=epoch)
    response.headers[EPOCH_HEADER] = current
    return {"items": items, "feed_cursor": str(cursor), "epoch": current,
            "next_item": items[-1]["subject"] if len(items) == limit else None}


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=1, max_length=200, description="事项 ID（同步源条目的 subject）")
    item_version: int = Field(ge=1, le=INT4_MAX, description="同步源条目的 itemversion（事项生命周期版本）")
    result: FeedbackResult = Field(description="acknowledged 已接收 / rejected 退回")
    reason: str | None = Field(None, max_length=2000, description="退回原因（rejected 必填）")
    note: str | None = Field(None, max_length=2000, description="备注")


@router.post(
    "/national/feedback",
    summary="国家平台反馈：对同步源中某事项某版本的接收确认或退回",
    description="只能反馈同步源中已有的条目；同一反馈重复提交不重复记录（200），新的反馈记录为事件（201），由生命周期服务记录到事项上。",
    status_code=201,
    responses={200: {"description": "同一反馈已记录：不重复记录"}},
)
async def post_feedback(body: FeedbackBody, feedback: NationalFeedbackDep, principal: CurrentPrincipal,
                        correlation_id: CorrelationId) -> JSONResponse:
    recorded, created = await feedback.record(
        Feedback(body.item_id, body.item_version, body.result, body.reason, body.note), principal,
        correlation_id=correlation_id)
    return JSONResponse(recorded, status_code=201 if created else 200)


@router.get("/national/feedback", summary="某事项已记录的国家平台反馈（每个版本最新一次）",
            description="事项不在调用人管辖区划内时返回 []，与没有反馈的事项相同。")
async def get_feedback(feedback: NationalFeedbackDep, principal: CurrentPrincipal,
                       item_id: Annotated[str, Query(description="事项 ID")]) -> list[dict[str, object]]:
    return await feedback.list_for_item(item_id, principal)
