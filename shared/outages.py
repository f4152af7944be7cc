"""An outage of the infrastructure (the database or the broker unreachable, starting up, or a connection lost) as
opposed to an error of the code or of the input. Consumers wait for an outage to pass (``shared.consumer``); the
HTTP API answers a request it cut short with 503 and ``Retry-After`` (``shared.http``), which a client retries,
instead of the 500 that means a bug."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError

#: The exception classes an outage can surface as (``is_outage`` decides for each instance): what an HTTP exception
#: handler is registered for. asyncpg's errors may arrive unwrapped: a refused connect (the server starting up,
#: ``CannotConnectNowError``) is raised as asyncpg raises it.
OUTAGE_TYPES: tuple[type[Exception], ...] = (OSError, KafkaError, asyncpg.PostgresError, asyncpg.InterfaceError,
                                                 DBAPIError)


def is_outage(exc: BaseException) -> bool:
    """An error of the infrastructure, not of the message or request: retried for as long as it lasts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError, KafkaError, asyncpg.PostgresConnectionError,
                                asyncpg.InterfaceError, asyncpg.exceptions.OperatorInterventionError,
                                asyncpg.exceptions.InsufficientResourcesError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
