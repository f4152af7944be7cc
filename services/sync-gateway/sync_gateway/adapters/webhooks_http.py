"""Webhook subscription routes (``/sync/v1/subscriptions``, docs/webhooks.md): thin, each one call of
``service_layer.webhooks.WebhookSubscriptions``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts.feed import FEED_TYPES, FeedEntry
from shared.http import INT8_MAX, CurrentPrincipal, ServiceRoute, error_responses

from sync_gateway.domain.webhooks import URL_MAX_LENGTH, SignatureAlgorithm
from sync_gateway.errors import ERRORS
from sync_gateway.service_layer.webhooks import WebhookSubscriptions

router = APIRouter(prefix="/sync/v1/subscriptions", tags=["webhooks 回调推送"], route_class=ServiceRoute,
                   responses=error_responses(ERRORS, statuses=(401, 403, 404, 422)))



def _feed_type(value: str) -> str:
    if value not in FEED_TYPES:
        raise ValueError(f"不是同步源的条目类型：{value}（可选：{'、'.join(FEED_TYPES)}）")
    return value


FeedType = Annotated[str, Field(max_length=100, json_schema_extra={"enum": list(FEED_TYPES)}),
                     AfterValidator(_feed_type)]
SubscriptionId = Annotated[str, Path(max_length=100, description="订阅 ID")]


async def get_subscriptions(request: Request) -> WebhookSubscriptions:
    subscriptions: WebhookSubscriptions = request.app.state.webhook_subscriptions
    return subscriptions


SubscriptionsDep = Annotated[WebhookSubscriptions, Depends(get_subscriptions)]


class SubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=URL_MAX_LENGTH,
                     description="回调地址（http/https；主机须在回调主机允许列表中，且解析到允许的地址）")
    event_types: list[FeedType] | None = Field(
        None, min_length=1, max_length=len(FEED_TYPES),
        description="只推送这些类型的同步源条目（同步源的 CloudEvents type）；不填：全部类型")
    regions: list[Annotated[str, Field(min_length=1, max_length=12, pattern=r"^(\*|\d{2,12})$")]] | None = Field(
        None, min_length=1, max_length=100,
        description="只推送这些区划（区划代码前缀）内事项的条目，须在调用人管辖区划内；不填：调用人的全部管辖区划")
    description: str | None = Field(None, max_length=500, description="说明")
    signature_algorithm: SignatureAlgorithm = Field(
        SignatureAlgorithm.hmac_sha256,
        description="签名算法：hmac-sha256（默认，Standard Webhooks 的 v1,<base64>）或 hmac-sm3（国密 SM3，"
                    "v1sm3,<base64>；标准 Standard Webhooks 校验库不认识 v1sm3，须按 docs/webhooks.md 自行校验）")


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: int = Field(ge=0, le=INT8_MAX, description="同步源游标：从此位置之后的条目起重新推送（0：从头）")


SUBSCRIPTION_FIELDS = (
    "订阅：id、url、event_types、regions（null：全国）、description、owner、status（active 推送中 / disabled 已停用）、"
    "disabled_reason、cursor（已推送到的同步源位置）、failures（下一条已失败的次数）、next_attempt_at（下次重试时间）、"
    "previous_secret_until（轮换后旧密钥仍签名至）、signature_algorithm（hmac-sha256 / hmac-sm3）与 signature_scheme"
    "（签名前缀 v1 / v1sm3）")


@router.post(
    "", status_code=201, summary="订阅回调推送：同步源的每一条目按序推送到回调地址（Standard Webhooks 签名）",
    description=(
        "从同步源当前末尾开始，把此后每一条符合筛选的条目（与 GET /sync/v1/feed 的条目完全相同：对外发布记录，"
        "绝无内部数据）逐条 POST 到 url，每个订阅同一时刻只有一条在途，按同步源顺序。请求头 webhook-id（条目 ID，"
        "重试不变）、webhook-timestamp、webhook-signature（v1,<base64 HMAC-SHA256>；signature_algorithm=hmac-sm3 时"
        "为 v1sm3,<base64 HMAC-SM3>）。响应含签名密钥 secret"
        "（whsec_…），只在此时显示一次。" + SUBSCRIPTION_FIELDS + "。详见 docs/webhooks.md。"))
async def create_subscription(body: SubscriptionBody, subscriptions: SubscriptionsDep,
                              principal: CurrentPrincipal) -> dict[str, Any]:
    return await subscriptions.create(principal, url=body.url, event_types=body.event_types, regions=body.regions,
                                      description=body.description, signature_algorithm=body.signature_algorithm)


@router.get("", summary="本人的回调订阅（管理员：全部）", description=SUBSCRIPTION_FIELDS + "；不含密钥。")
async def list_subscriptions(subscriptions: SubscriptionsDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return await subscriptions.list_visible(principal)


@router.get("/{subscription_id}", summary="一个回调订阅", description=SUBSCRIPTION_FIELDS + "；不含密钥。")
async def get_subscription(subscription_id: SubscriptionId, subscriptions: SubscriptionsDep,
                           principal: CurrentPrincipal) -> dict[str, Any]:
    return await subscriptions.get(principal, subscription_id)


@router.delete("/{subscription_id}", status_code=204, summary="删除回调订阅（及其推送日志）",
               response_class=Response)
async def delete_subscription(subscription_id: SubscriptionId, subscriptions: SubscriptionsDep,
                              principal: CurrentPrincipal) -> Response:
    await subscriptions.delete(principal, subscription_id)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", summary="轮换签名密钥：新密钥只在此时显示一次",
             description="轮换后的重叠期内（默认 24 小时）每次推送同时带新旧两个签名（空格分隔），接收方可从容更换；"
                         "重叠期后只用新密钥签名。")
async def rotate_secret(subscription_id: SubscriptionId, subscriptions: SubscriptionsDep,
                        principal: CurrentPrincipal) -> dict[str, Any]:
    return await subscriptions.rotate_secret(principal, subscription_id)


@router.get("/{subscription_id}/deliveries", summary="推送日志：每一次尝试（新的在前）",
            description="每条：sequence（同步源位置）、webhook_id、attempt（该条第几次尝试）、attempted_at、status"
                        "（接收方的 HTTP 状态，无应答为 null）、duration_ms、outcome（delivered 已送达 / failed 失败，"
                        "将重试 / gone 接收方已停用）、error、signature_algorithm 与 signature_scheme（该次签名所用算法"
                        "与前缀）。")
async def deliveries(
    subscription_id: SubscriptionId, subscriptions: SubscriptionsDep, principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=INT8_MAX, description="分页：只列此日志编号之前的")] = None,
) -> list[dict[str, Any]]:
    return await subscriptions.deliveries(principal, subscription_id, limit=limit, before=before)


@router.post("/{subscription_id}/replay", summary="从同步源游标重放：推送从该位置之后重新开始",
             description="游标移到 after，待重试的条目作废、进行中的推送在当前一次尝试后停止；已停用的订阅恢复推送。"
                         "重放的条目 webhook-id 与原先相同（接收方据此去重）。")
async def replay(subscription_id: SubscriptionId, body: ReplayBody, subscriptions: SubscriptionsDep,
                 principal: CurrentPrincipal) -> dict[str, Any]:
    return await subscriptions.replay(principal, subscription_id, after=body.after)


def document_webhook(app: FastAPI) -> None:
    """The request the gateway sends to a subscriber, in the OpenAPI document's ``webhooks`` section."""

    @app.webhooks.post(
        "feed-entry", summary="推送给订阅方的请求：一条同步源条目（FeedEntry），Standard Webhooks 签名",
        description=(
            "请求体与 GET /sync/v1/feed 返回数组中的一个元素逐字节相同（对外发布记录，绝无内部数据）。签名："
            "webhook-signature 为空格分隔的 v1,<base64>，其中 base64 为 HMAC-SHA256（密钥：whsec_ 之后部分的 base64 "
            "解码）对“{webhook-id}.{webhook-timestamp}.{请求体原文}”的摘要；订阅选择 hmac-sm3 时为 v1sm3,<base64>，"
            "base64 为同一消息与密钥的 HMAC-SM3；轮换重叠期内有新旧两个签名，任一匹配即有效。"
            "应答 2xx：已送达；410：订阅停用；其他（含 3xx，不跟随重定向）与超时：按重试计划重试。"
            "详见 docs/webhooks.md。"),
        responses={410: {"description": "接收方不再接收：订阅停用"}})
    async def feed_entry(
        body: FeedEntry,
        webhook_id: Annotated[str, Header(description="消息 ID（同步源条目的 id），重试与重放时不变，据此去重")],
        webhook_timestamp: Annotated[int, Header(description="本次尝试的 Unix 时间（秒），与本机差 5 分钟以上应拒绝")],
        webhook_signature: Annotated[str, Header(description=(
            "v1,<base64 HMAC-SHA256>（hmac-sm3 订阅：v1sm3,<base64 HMAC-SM3>），空格分隔的一个或两个签名"))],
    ) -> None:
        """Never served: it documents what the gateway sends."""
