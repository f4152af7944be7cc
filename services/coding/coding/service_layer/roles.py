"""Who may do what in the coding service (admin may do all; region limits apply on top): the one table the service
layer's checks read.

Codes are allocated at registration, before an item is published, and an item's coding history carries its coded
elements: only the staff read them (preview, decode, an item's codes, its services). The national platform learns
codes from the sync gateway's feed once an item is published. The reference tables (``/dictionaries``) are public
standards and need no token."""

from __future__ import annotations

from shared.auth import STAFF_ROLES

# Who may preview a code, decode one and read an item's codes, history, lineage and services.
READ_ROLES = STAFF_ROLES
# Who may allocate and withdraw 事项服务编码.
SERVICE_WRITE_ROLES = ("publisher",)
# Who may read and change the pinyin overrides: require_role("admin") passes admins only (admin holds every role,
# nobody else holds admin).
OVERRIDE_ROLES = ("admin",)
