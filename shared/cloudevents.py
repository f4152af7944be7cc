"""CloudEvents 1.0 envelope for the Kafka binding (binary mode) and for the structured JSON of the sync feed.

Binary mode: the event attributes travel as ``ce_*`` headers, the value is the JSON data and the key is the
stream id (the item id), so one item's events stay in one partition and in order. Project extensions:
``ce_sequence`` (version of the event in its stream), ``ce_position`` (global position in the source store),
``ce_correlationid``, ``ce_causationid`` and ``ce_actor``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


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
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_subject": self.subject,
            "ce_time": self.time.isoformat(),
            "ce_sequence": str(self.sequence),
            "ce_position": str(self.position),
            "content-type": CONTENT_TYPE,
        }
        if self.correlation_id:
            headers["ce_correlationid"] = self.correlation_id
        if self.causation_id:
            headers["ce_causationid"] = self.causation_id
        if self.actor:
            headers["ce_actor"] = self.actor
        for name, value in self.extensions.items():
            headers[f"ce_{name}"] = value
        value = json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).encode()
        return self.subject.encode(), value, [(k, v.encode()) for k, v in headers.items()]

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> "CloudEvent":
        """Parse a binary-mode message; raises :class:`MalformedEventError` if it is not one of ours."""
        attrs = {k: v.decode() for k, v in headers if k.startswith("ce_") and v is not None}
        missing = [a for a in ("ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion") if a not in attrs]
        if missing:
            raise MalformedEventError(f"missing CloudEvents headers {missing}")
        if attrs["ce_specversion"] != SPEC_VERSION:
            raise MalformedEventError(f"unsupported specversion {attrs['ce_specversion']}")
        try:
            data = json.loads(value or b"null")
            time = datetime.fromisoformat(attrs["ce_time"])
            sequence = int(attrs.get("ce_sequence", "0"))
            position = int(attrs.get("ce_position", "0"))
        except (ValueError, TypeError) as exc:
            raise MalformedEventError(str(exc)) from exc
        if not isinstance(data, dict):
            raise MalformedEventError("data is not a JSON object")
        known = {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_specversion", "ce_sequence",
                 "ce_position", "ce_correlationid", "ce_causationid", "ce_actor"}
        return cls(
            id=attrs["ce_id"],
            type=attrs["ce_type"],
            source=attrs["ce_source"],
            subject=attrs.get("ce_subject") or (key or b"").decode(),
            time=time,
            data=data,
            sequence=sequence,
            position=position,
            correlation_id=attrs.get("ce_correlationid"),
            causation_id=attrs.get("ce_causationid"),
            actor=attrs.get("ce_actor"),
            extensions={k[3:]: v for k, v in attrs.items() if k not in known},
        )

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


class MalformedEventError(ValueError):
    """A Kafka message that is not a CloudEvent of this suite (poison message)."""
