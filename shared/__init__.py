"""Cross-service code of the 公安政务服务事项 suite: settings, errors, auth, CloudEvents envelope,
event store, relay, consumer runner and the embedded development infrastructure.

Nothing in this package connects to anything at import time: every engine, producer or consumer is built
by a service's composition root (``bootstrap.py``) or by a test fixture."""
