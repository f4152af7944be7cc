"""Who may do what in the sync gateway (admin may do all): the one table the service layer's checks read.

The gateway holds only what was published, so it is where the national platform reads — and the only place. Which
items a caller sees is its ``regions`` claim's business, never its role's: the national platform's token carries
``*`` (every region); any other token sees the items of its regions only (feed, snapshot and feedback alike)."""

from __future__ import annotations

# Who may read the national feed and the catalogue snapshot.
FEED_ROLES = ("national", "operator")
# Who may answer the feed (acknowledge or reject a fed version).
FEEDBACK_ROLES = ("national",)
# Who may read the recorded answers.
FEEDBACK_READ_ROLES = ("national", "operator")

# Who may open the operators' console (pages, stream, pipeline, items, dead letters): operators, within their
# regions. The national platform and the provincial staff are refused: they have the feed and the services' own APIs.
CONSOLE_ROLES = ("operator",)
# Who may act on a dead letter from the console (replay or discard, with a reason that is recorded): admin alone
# (require_role("admin") passes admins only: admin holds every role, nobody else holds admin).
CONSOLE_ADMIN_ROLES = ("admin",)

# Who may subscribe to webhooks (and see, rotate, replay or delete their own subscriptions; admin sees all): the
# feed's readers, with the feed's region limits.
WEBHOOK_ROLES = FEED_ROLES
