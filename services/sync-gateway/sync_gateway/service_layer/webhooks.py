"""Webhooks (回调推送, docs/webhooks.md): the subscriptions' use cases (for the national platform and operators,
``roles.WEBHOOK_ROLES``; each subscriber sees its own, an admin all) and the delivery worker, which sends every feed
entry a subscription takes to its URL, in feed order, one at a time per subscription, signed per Standard Webhooks.

What is sent is the feed entry exactly as ``GET /sync/v1/feed`` serves it (the published record, never internal
event data), so a webhook receiver and a feed reader see the same bytes of the same schema."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import ALL_REGIONS, Principal
from shared.errors import RegionDeniedError

from sync_gateway.adapters import webhook_store as store
from sync_gateway.adapters.notify import NotifyListener
from sync_gateway.adapters.webhook_sender import Answer, Resolve, WebhookSender
from sync_gateway.adapters.webhook_store import Message
from sync_gateway.domain.errors import ReplayCursorAheadError, SubscriptionNotFoundError, WebhookUrlNotAllowedError
from sync_gateway.domain.webhooks import (
    OUTCOME_LABELS,
    SECRET_BYTES,
    SIGNATURE_VERSIONS,
    Outcome,
    SignatureAlgorithm,
    check_addresses,
    check_url,
    new_secret,
    outcome_of,
    retry_delay,
    signature_header,
)
from sync_gateway.service_layer.feed import region_filter
from sync_gateway.service_layer.roles import WEBHOOK_ROLES

log = logging.getLogger(__name__)

STATUS_LABELS = {"active": "推送中", "disabled": "已停用"}


def _now() -> datetime:
    return datetime.now(UTC)


def subscription_view(row: dict[str, Any], *, secret: bool = False) -> dict[str, Any]:
    """A subscription as the API shows it; its secret only when just issued (creation, rotation)."""
    view: dict[str, Any] = {
        "id": row["id"], "url": row["url"], "event_types": row["event_types"], "regions": row["regions"],
        "description": row["description"], "owner": row["owner"], "status": row["status"],
        "status_label": STATUS_LABELS[row["status"]], "disabled_reason": row["disabled_reason"],
        "created_at": row["created_at"].isoformat(), "cursor": str(row["cursor"]), "failures": row["failures"],
        "next_attempt_at": row["next_attempt_at"].isoformat() if row["next_attempt_at"] else None,
        "previous_secret_until": (row["previous_secret_until"].isoformat()
                                  if row["previous_secret"] and row["previous_secret_until"] else None),
        **signature_view(row)}
    if secret:
        view["secret"] = row["secret"]
    return view


def signature_view(row: dict[str, Any]) -> dict[str, Any]:
    """How a subscription signs, or how one attempt was signed: the algorithm and the scheme its signatures name."""
    algorithm = SignatureAlgorithm(row["signature_algorithm"])
    return {"signature_algorithm": algorithm.value, "signature_scheme": SIGNATURE_VERSIONS[algorithm]}


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    outcome = Outcome(row["outcome"])
    return {"id": row["id"], "sequence": str(row["feed_position"]), "webhook_id": row["webhook_id"],
            "attempt": row["attempt"], "attempted_at": row["attempted_at"].isoformat(), "status": row["status"],
            "duration_ms": row["duration_ms"], "outcome": outcome.value, "outcome_label": OUTCOME_LABELS[outcome],
            "error": row["error"], **signature_view(row)}


def signing_secrets(row: dict[str, Any], now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation's overlap."""
    until = row["previous_secret_until"]
    return [row["secret"], *([row["previous_secret"]] if row["previous_secret"] and until and until > now else [])]


class WebhookSubscriptions:
    """Create, list, show, delete, rotate the secret of, read the log of and replay a subscription."""

    def __init__(self, engine: AsyncEngine, *, allowed_hosts: Callable[[], Iterable[str]],
                 allowed_networks: Callable[[], Iterable[str]], resolver: Resolve, secret_overlap_s: float,
                 clock: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self.allowed_hosts = allowed_hosts
        self.allowed_networks = allowed_networks
        self.resolver = resolver
        self.secret_overlap_s = secret_overlap_s
        self.clock = clock

    async def create(self, principal: Principal, *, url: str, event_types: Sequence[str] | None,
                     regions: Sequence[str] | None, description: str | None,
                     signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.hmac_sha256) -> dict[str, Any]:
        """A new subscription from the feed's end on (its secret in the answer, the only time it is shown). Its
        regions lie within the caller's (none given: the caller's own); its deliveries are signed with
        ``signature_algorithm`` (rotations keep it)."""
        principal.require_role(*WEBHOOK_ROLES)
        if regions is not None:
            for region in regions:
                if not principal.covers([region]):
                    raise RegionDeniedError(region_code=region, regions=list(principal.regions))
        await self._check_target(url)
        async with self.engine.begin() as conn:
            row = await store.insert_subscription(conn, {
                "id": str(uuid.uuid4()), "owner": principal.subject, "url": url,
                "event_types": sorted(set(event_types)) if event_types else None,
                "regions": region_filter(principal) if not regions else None if ALL_REGIONS in regions
                else sorted(set(regions)),
                "description": description, "secret": new_secret(secrets.token_bytes(SECRET_BYTES)),
                "signature_algorithm": signature_algorithm.value,
                "status": "active", "created_at": self.clock(), "cursor": await store.feed_end(conn)})
        return subscription_view(row, secret=True)

    async def list_visible(self, principal: Principal) -> list[dict[str, Any]]:
        principal.require_role(*WEBHOOK_ROLES)
        return [subscription_view(r) for r in await store.subscriptions(self.engine, _owner_filter(principal))]

    async def get(self, principal: Principal, subscription_id: str) -> dict[str, Any]:
        principal.require_role(*WEBHOOK_ROLES)
        async with self.engine.connect() as conn:
            return subscription_view(await self._own(conn, principal, subscription_id))

    async def delete(self, principal: Principal, subscription_id: str) -> None:
        """Delete the subscription and its delivery log (a worker delivering to it stops after its attempt)."""
        principal.require_role(*WEBHOOK_ROLES)
        async with self.engine.begin() as conn:
            await self._own(conn, principal, subscription_id, lock=True)
            await store.delete_subscription(conn, subscription_id)

    async def rotate_secret(self, principal: Principal, subscription_id: str) -> dict[str, Any]:
        """A new secret (in the answer, the only time it is shown); the current one keeps signing beside it for
        the configured overlap (a second rotation within it drops the oldest)."""
        principal.require_role(*WEBHOOK_ROLES)
        async with self.engine.begin() as conn:
            row = await self._own(conn, principal, subscription_id, lock=True)
            row = await store.update_subscription(conn, subscription_id, {
                "secret": new_secret(secrets.token_bytes(SECRET_BYTES)), "previous_secret": row["secret"],
                "previous_secret_until": self.clock() + timedelta(seconds=self.secret_overlap_s)})
        return subscription_view(row, secret=True)

    async def deliveries(self, principal: Principal, subscription_id: str, *, limit: int,
                         before: int | None) -> list[dict[str, Any]]:
        principal.require_role(*WEBHOOK_ROLES)
        async with self.engine.connect() as conn:
            await self._own(conn, principal, subscription_id)
        return [delivery_view(r) for r in await store.deliveries(self.engine, subscription_id, limit=limit,
                                                                 before=before)]

    async def replay(self, principal: Principal, subscription_id: str, *, after: int) -> dict[str, Any]:
        """Deliver again from the feed position ``after`` on (the entries after it): the cursor moves there, any
        retry pending is dropped and a disabled subscription is active again; a delivery under way stops."""
        principal.require_role(*WEBHOOK_ROLES)
        async with self.engine.begin() as conn:
            row = await self._own(conn, principal, subscription_id, lock=True)
            last = await store.feed_end(conn)
            if after > last:
                raise ReplayCursorAheadError(after=after, last=last)
            row = await store.update_subscription(conn, subscription_id, {
                "cursor": after, "failures": 0, "next_attempt_at": None, "status": "active",
                "disabled_reason": None, "generation": row["generation"] + 1, "lease_owner": None,
                "lease_until": None})
        return subscription_view(row)

    async def _own(self, conn: Any, principal: Principal, subscription_id: str, *,
                   lock: bool = False) -> dict[str, Any]:
        row = await store.subscription(conn, subscription_id, _owner_filter(principal), lock=lock)
        if row is None:
            raise SubscriptionNotFoundError(subscription_id=subscription_id)
        return row

    async def _check_target(self, url: str) -> None:
        target = check_url(url, self.allowed_hosts())
        check_addresses(url, target.host, await self.resolver(target.host, target.port), self.allowed_networks())


def _owner_filter(principal: Principal) -> str | None:
    """Whose subscriptions the caller sees: its own, or everyone's for an admin."""
    return None if "admin" in principal.roles else principal.subject


class WebhookDispatcher:
    """The delivery worker (in the process that runs the consumers): takes the subscriptions with a message
    waiting (woken by the feed's NOTIFY, or every ``poll_interval_s`` for due retries) and serves up to
    ``concurrency`` of them at once, each one message at a time in feed order.

    At least once: a message counts as delivered when its 2xx is written, in batches of up to ``flush_every``; a
    worker that dies before writing them leaves those to be sent again, with the same ``webhook-id``."""

    def __init__(self, engine: AsyncEngine, sender: WebhookSender, listener: NotifyListener, *,
                 allowed_hosts: Callable[[], Iterable[str]], schedule: Sequence[float], concurrency: int,
                 poll_interval_s: float, lease_s: float, log_days: float = 14.0, scan: int = 500,
                 flush_every: int = 100, prune_interval_s: float = 3600.0,
                 clock: Callable[[], datetime] = _now, uniform: Callable[[], float] = random.random,
                 worker: str | None = None) -> None:
        self.engine = engine
        self.sender = sender
        self.listener = listener
        self.allowed_hosts = allowed_hosts
        self.schedule = tuple(schedule)
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.lease_s = lease_s
        self.scan = scan
        self.flush_every = flush_every
        self.log_days = log_days
        self.prune_interval_s = prune_interval_s
        self.clock = clock
        self.uniform = uniform
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def run(self, stop: asyncio.Event) -> None:
        await self.sender.start()
        await self.listener.start()
        serving: dict[str, asyncio.Task[None]] = {}
        pruned_at: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                changed = self.listener.changed
                if pruned_at is None or loop.time() - pruned_at >= self.prune_interval_s:
                    pruned_at = loop.time()
                    await self._prune()
                try:
                    free = self.concurrency - len(serving)
                    if free > 0:
                        for row in await store.claim_due(self.engine, self.worker, self.clock(), self.lease_s, free,
                                                         list(serving)):
                            serving[row["id"]] = asyncio.create_task(self._serve(row, stop))
                except Exception:
                    log.warning("webhooks: looking for due subscriptions failed; trying again", exc_info=True)
                wakers = [asyncio.create_task(changed.wait()), asyncio.create_task(stop.wait())]
                await asyncio.wait([*wakers, *serving.values()], timeout=self.poll_interval_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                for waker in wakers:
                    waker.cancel()
                for subscription_id, task in list(serving.items()):
                    if task.done():
                        del serving[subscription_id]
                        if not task.cancelled() and task.exception():
                            log.warning("webhooks: serving %s failed", subscription_id, exc_info=task.exception())
        finally:
            if not stop.is_set():  # cancelled (the process is going down): what was not written is sent again later
                for task in serving.values():
                    task.cancel()
            await asyncio.gather(*serving.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                await store.release(self.engine, self.worker, list(serving))
            await self.listener.stop()
            await self.sender.stop()

    async def _prune(self) -> None:
        """The delivery log keeps ``log_days`` of attempts (checked at start and every ``prune_interval_s``)."""
        try:
            pruned = await store.prune_log(self.engine, self.clock() - timedelta(days=self.log_days))
            if pruned:
                log.info("webhooks: %d delivery log rows older than %s days pruned", pruned, self.log_days)
        except Exception:
            log.warning("webhooks: pruning the delivery log failed; trying again later", exc_info=True)

    async def _serve(self, row: dict[str, Any], stop: asyncio.Event) -> None:
        """Deliver the subscription's waiting messages in order until none is left, one fails (a retry is then
        scheduled), the receiver answers 410, the worker stops, or the subscription changes under it."""
        subscription_id, generation = row["id"], row["generation"]
        cursor, failures = row["cursor"], row["failures"]
        attempts: list[dict[str, Any]] = []
        sub: dict[str, Any] | None = row

        async def write(**values: Any) -> dict[str, Any] | None:
            written = await store.record_progress(self.engine, subscription_id, worker=self.worker,
                                                  generation=generation, log=attempts, values={
                                                      "cursor": cursor, "failures": failures, **values})
            attempts.clear()
            return written

        release = {"lease_owner": None, "lease_until": None}
        loop = asyncio.get_running_loop()
        written_at = loop.time()
        while sub is not None:
            messages, scanned = await store.next_messages(self.engine, cursor, sub["event_types"], sub["regions"],
                                                          self.scan)
            for message in messages:
                if stop.is_set():
                    await write(next_attempt_at=None, **release)
                    return
                answer = await self._attempt(sub, message)
                attempts.append(self._logged(sub, message, failures + 1, answer))
                outcome = outcome_of(answer.status)
                if outcome is Outcome.delivered:
                    cursor, failures = message.position, 0
                elif outcome is Outcome.gone:
                    failures = 0
                    await write(status="disabled", next_attempt_at=None, disabled_reason=(
                        f"接收方对第 {message.position} 条回复 410（不再接收），订阅已停用"), **release)
                    return
                else:
                    failures += 1
                    delay = retry_delay(self.schedule, failures, self.uniform())
                    if delay is None:
                        await write(status="disabled", next_attempt_at=None, disabled_reason=(
                            f"第 {message.position} 条在重试计划内始终未能送达（{answer.error or answer.status}），"
                            "订阅已停用；可从游标重放"), **release)
                    else:
                        await write(next_attempt_at=self.clock() + timedelta(seconds=delay), **release)
                    return
                # Written every flush_every deliveries, and often enough that a slow receiver never lets the lease
                # lapse while it is held (another process would then deliver beside this one, out of order).
                if len(attempts) >= self.flush_every or loop.time() - written_at > self.lease_s / 3:
                    written_at = loop.time()
                    sub = await write(next_attempt_at=None,
                                      lease_until=self.clock() + timedelta(seconds=self.lease_s))
                    if sub is None:
                        return
            if not messages and scanned == cursor:
                await write(next_attempt_at=None, **release)
                return
            cursor = max(cursor, scanned)  # every message up to it was delivered: the others are not this one's
            written_at = loop.time()
            sub = await write(next_attempt_at=None, lease_until=self.clock() + timedelta(seconds=self.lease_s))

    async def _attempt(self, sub: dict[str, Any], message: Message) -> Answer:
        """One signed POST of the message (the allow-list as configured now; addresses checked at connection)."""
        try:
            check_url(sub["url"], self.allowed_hosts())
        except WebhookUrlNotAllowedError as exc:
            return Answer(None, str(exc.context["reason"]), 0)
        now = self.clock()
        timestamp = int(now.timestamp())
        body = message.body.encode()
        headers = {"content-type": "application/json", "user-agent": "shixiang-sync-gateway/webhooks",
                   "webhook-id": message.webhook_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature_header(signing_secrets(sub, now), message.webhook_id, timestamp,
                                                         body, SignatureAlgorithm(sub["signature_algorithm"]))}
        return await self.sender.send(sub["url"], headers, body, lane=sub["id"])

    def _logged(self, sub: dict[str, Any], message: Message, attempt: int, answer: Answer) -> dict[str, Any]:
        return {"feed_position": message.position, "webhook_id": message.webhook_id, "attempt": attempt,
                "attempted_at": self.clock(), "status": answer.status, "duration_ms": answer.duration_ms,
                "outcome": outcome_of(answer.status).value, "error": answer.error,
                "signature_algorithm": sub["signature_algorithm"]}
