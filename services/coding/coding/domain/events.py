"""Event types the coding service writes to its own store (and the relay publishes to ``<prefix>.coding.events``).

The two cross-service contracts come from ``shared.contracts``; the others are the coding service's own and
nobody outside it relies on them. Item events live on the item's stream (stream id = item id), override events
on the one stream :data:`OVERRIDES_STREAM`."""

from shared import contracts

# data (contract): item_id, code, base_code, collided_with, parts, pinyin_letters, overrides_version, replaces
CODE_ASSIGNED = contracts.CODING_CODE_ASSIGNED
# data (contract): item_id, code, reason (cancelled | recoded | split | merged), replaced_by
CODE_RETIRED = contracts.CODING_CODE_RETIRED

# 事项服务编码. data: item_id, sequence, name, service_code, item_code
SERVICE_ALLOCATED = "coding.item_service.allocated.v1"
# data: item_id, sequence, name, service_code, reason (a person's reason, or cancelled / recoded / split / merged
# when the item's code was retired)
SERVICE_WITHDRAWN = "coding.item_service.withdrawn.v1"
# The item was re-coded, so an active service's code moves to the new item code (same sequence).
# data: item_id, sequence, name, service_code, previous_service_code
SERVICE_RECODED = "coding.item_service.recoded.v1"

# 拼音修正词典. data: phrase, letters, previous_letters (null if new), reason, overrides_version
OVERRIDE_SET = "coding.pinyin_override.set.v1"
# data: phrase, previous_letters, reason, overrides_version
OVERRIDE_REMOVED = "coding.pinyin_override.removed.v1"
OVERRIDES_STREAM = "pinyin-overrides"
