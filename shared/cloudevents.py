"""CloudEvents 1.0 envelope for the Kafka binding (binary mode) and for the structured JSON of the sync feed.

Binary mode: the event attributes travel as ``ce_*`` headers, the value is the JSON data and the key is the
stream id (the item id), so one item's events stay in one partition and in order. Project extensions:
``ce_sequence`` (version of the event in its stream), ``ce_position`` (global position in the source store),
``ce_correlationid``, ``ce_causationid`` and ``ce_actor``.

Reading a message is split in two, because a consumer acts on few of the types it receives: :func:`read_envelope`
reads the headers (cheap) and :meth:`Envelope.event` parses the JSON value (the costly part) only for a type the
consumer wants. Both raise :class:`MalformedEventError` and nothing else, whatever bytes arrive: a header that is
not UTF-8, a key that is not, JSON nested too deep, a value that is no object. A consumer must be able to dead-letter
any message and go on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared import jsoncodec

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

# Attributes with a meaning of their own; other ce_* headers are extensions.
_KNOWN = frozenset({"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_specversion", "ce_sequence",
                    "ce_position", "ce_correlationid", "ce_causationid", "ce_actor"})
_REQUIRED = ("ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion")


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    sequence: int
    position: int = 0
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for aiokafka."""
        headers = binary_headers(id=self.id, type=self.type, source=self.source, subject=self.subject,
                                 time=self.time, sequence=self.sequence, position=self.position,
                                 correlation_id=self.correlation_id, causation_id=self.causation_id,
                                 actor=self.actor, extensions=self.extensions)
        return self.subject.encode(), jsoncodec.dumps(self.data).encode(), headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> CloudEvent:
        """Parse a binary-mode message; raises :class:`MalformedEventError` if it is not one of ours."""
        return read_envelope(key, value, headers).event()

    def to_structured(self) -> dict[str, Any]:
        """Structured-mode JSON (one entry of an ``application/cloudevents-batch+json`` array)."""
        out: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": CONTENT_TYPE,
            "sequence": str(self.sequence),
        }
        if self.correlation_id:
            out["correlationid"] = self.correlation_id
        out.update(self.extensions)
        out["data"] = self.data
        return out


def binary_headers(*, id: str, type: str, source: str, subject: str, time: datetime, sequence: int,
                   position: int = 0, correlation_id: str | None = None, causation_id: str | None = None,
                   actor: str | None = None, extensions: dict[str, str] | None = None) -> list[tuple[str, bytes]]:
    """The ``ce_*`` headers of one event (what the relay sends with the stored data as the value)."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", id.encode()),
        ("ce_type", type.encode()),
        ("ce_source", source.encode()),
        ("ce_subject", subject.encode()),
        ("ce_time", time.isoformat().encode()),
        ("ce_sequence", str(sequence).encode()),
        ("ce_position", str(position).encode()),
        ("content-type", b"application/json"),
    ]
    if correlation_id:
        headers.append(("ce_correlationid", correlation_id.encode()))
    if causation_id:
        headers.append(("ce_causationid", causation_id.encode()))
    if actor:
        headers.append(("ce_actor", actor.encode()))
    for name, value in (extensions or {}).items():
        headers.append((f"ce_{name}", value.encode()))
    return headers


@dataclass(frozen=True)
class Envelope:
    """A message's CloudEvents attributes, read from its headers; the data is parsed only when asked for."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    sequence: int
    position: int
    correlation_id: str | None
    causation_id: str | None
    actor: str | None
    extensions: dict[str, str]
    value: bytes | None = field(repr=False)

    def event(self) -> CloudEvent:
        """The whole event, its JSON value parsed (orjson refuses nesting deeper than 1,024 levels, so a hostile
        value cannot exhaust the stack)."""
        try:
            data = orjson.loads(self.value or b"null")
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise MalformedEventError(f"数据不是有效的 JSON：{exc}") from exc
        if not isinstance(data, dict):
            raise MalformedEventError("数据不是 JSON 对象")
        return CloudEvent(id=self.id, type=self.type, source=self.source, subject=self.subject, time=self.time,
                          data=data, sequence=self.sequence, position=self.position,
                          correlation_id=self.correlation_id, causation_id=self.causation_id, actor=self.actor,
                          extensions=self.extensions)


def read_envelope(key: bytes | None, value: bytes | None, headers: Any) -> Envelope:
    """The CloudEvents attributes of a binary-mode message; raises :class:`MalformedEventError` for anything that
    is not one of ours (and nothing else)."""
    try:
        return _read_envelope(key, value, headers)
    except MalformedEventError:
        raise
    except Exception as exc:
        raise MalformedEventError(f"无法读取消息头：{type(exc).__name__}: {exc}") from exc


def _read_envelope(key: bytes | None, value: bytes | None, headers: Any) -> Envelope:
    attrs: dict[str, str] = {}
    for name, raw in headers or ():
        if not isinstance(name, str) or not name.startswith("ce_") or raw is None:
            continue
        try:
            attrs[name] = raw.decode()
        except UnicodeDecodeError as exc:
            raise MalformedEventError(f"消息头 {name} 不是 UTF-8 文本") from exc
    missing = [a for a in _REQUIRED if not attrs.get(a)]
    if missing:
        raise MalformedEventError(f"缺少 CloudEvents 消息头 {missing}")
    if attrs["ce_specversion"] != SPEC_VERSION:
        raise MalformedEventError(f"不支持的 specversion {attrs['ce_specversion']!r}")
    subject = attrs.get("ce_subject")
    if not subject:
        try:
            subject = (key or b"").decode()
        except UnicodeDecodeError as exc:
            raise MalformedEventError("消息没有 ce_subject，且键不是 UTF-8 文本") from exc
    if not subject:
        raise MalformedEventError("消息没有主题（ce_subject 与键都为空）")
    try:
        time = datetime.fromisoformat(attrs["ce_time"])
        sequence = int(attrs.get("ce_sequence", "0"))
        position = int(attrs.get("ce_position", "0"))
    except ValueError as exc:
        raise MalformedEventError(f"消息头取值无效：{exc}") from exc
    if time.tzinfo is None:
        raise MalformedEventError("ce_time 缺少时区")
    return Envelope(
        id=attrs["ce_id"],
        type=attrs["ce_type"],
        source=attrs["ce_source"],
        subject=subject,
        time=time,
        sequence=sequence,
        position=position,
        correlation_id=attrs.get("ce_correlationid"),
        causation_id=attrs.get("ce_causationid"),
        actor=attrs.get("ce_actor"),
        extensions={k[3:]: v for k, v in attrs.items() if k not in _KNOWN},
        value=value,
    )


class MalformedEventError(ValueError):
    """A Kafka message that is not a CloudEvent of this suite (poison message)."""
