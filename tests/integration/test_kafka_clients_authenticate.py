"""Every Kafka client of the suite authenticates the way the settings say (SHIXIANG_KAFKA_*): the relay's and the
consumers' producers, the consumer-group members, topic creation, the dead-letter replay's refetch, the console's
lag reader and the CLI. The embedded broker cannot check a SASL login (its memory storage keeps no SCRAM
credentials: the last test here), so each client is pointed at a stand-in broker (``kafka_handshakes``) that records
the mechanism, the user and the TLS client certificate it was offered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared.consumer import _fetch_original
from shared.infra import free_port, tansu_binary, wait_for_port
from shared.service import ServiceRuntime
from shixiang.cli import run_republish
from tests.integration.kafka_handshakes import (
    API_VERSIONS,
    SASL_HANDSHAKE,
    Certificates,
    HandshakeRecorder,
    handshake_recorder,
    make_certificates,
)

import lifecycle.bootstrap as lifecycle_bootstrap
import sync_gateway.bootstrap as sync_bootstrap
from lifecycle.config import LifecycleSettings
from sync_gateway.config import SyncSettings

PASSWORD = "correct horse battery staple"  # a test's credential, sent only to the stand-in broker


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("kafka-tls"), client_name="shixiang-sync")


async def _lifecycle(settings: dict[str, Any]) -> ServiceRuntime:
    runtime, _ = lifecycle_bootstrap.build(LifecycleSettings(**settings))
    return runtime


async def _producer(settings: dict[str, Any]) -> None:
    producer = (await _lifecycle(settings)).kafka.producer()
    try:
        await producer.start()
    finally:
        await producer.stop()


async def _group_member(settings: dict[str, Any]) -> None:
    consumer = (await _lifecycle(settings)).kafka.consumer("shixiang.lifecycle.test", "shixiang.registry.events")
    try:
        await consumer.start()
    finally:
        await consumer.stop()


async def _topic_creation(settings: dict[str, Any]) -> None:
    await (await _lifecycle(settings)).kafka.ensure_topics(["shixiang.lifecycle.events"])


async def _dead_letter_refetch(settings: dict[str, Any]) -> None:
    await _fetch_original((await _lifecycle(settings)).kafka, "shixiang.registry.events", 0, 7)


async def _console_groups(settings: dict[str, Any]) -> None:
    _, gateway = sync_bootstrap.build(SyncSettings(**settings))
    await gateway.console_pipeline.offsets.groups("shixiang.")


async def _console_high_watermarks(settings: dict[str, Any]) -> None:
    _, gateway = sync_bootstrap.build(SyncSettings(**settings))
    await gateway.console_pipeline.offsets.high_watermarks({TopicPartition("shixiang.coding.events", 0): 0})


async def _cli_republish(settings: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIXIANG_DATABASE_URL", "postgresql+asyncpg://postgres@/nowhere?host=/nonexistent")
        for name, value in settings.items():
            env.setenv(f"SHIXIANG_{name.upper()}", str(value))
        await run_republish("lifecycle", 1)


CLIENTS: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
    "relay and consumer producer": _producer, "consumer group member": _group_member,
    "topic creation": _topic_creation, "dead-letter refetch": _dead_letter_refetch,
    "console lag: groups": _console_groups, "console lag: high watermarks": _console_high_watermarks,
    "shixiang republish": _cli_republish,
}


async def _try(client: Callable[[dict[str, Any]], Awaitable[None]], settings: dict[str, Any]) -> None:
    """Run a client against the stand-in broker, which hangs up once it has seen the login: the client fails."""
    with contextlib.suppress(KafkaError, OSError):
        await asyncio.wait_for(client(settings), 30)  # a guard against a hang, not a measurement


@pytest.fixture
async def recorder() -> AsyncIterator[HandshakeRecorder]:
    async with handshake_recorder() as recorder:
        yield recorder


@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
async def test_every_client_logs_in_with_the_services_scram_credentials_before_anything_else(
        recorder: HandshakeRecorder, client: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    await _try(client, {"kafka_bootstrap_servers": recorder.bootstrap_servers,
                        "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_username": "shixiang-lifecycle",
                        "kafka_password": PASSWORD})
    assert recorder.attempts, "the client never connected"
    for attempt in recorder.attempts:
        assert attempt.api_keys[:2] == [API_VERSIONS, SASL_HANDSHAKE], "asked for something before logging in"
        assert (attempt.mechanism, attempt.scram_user) == ("SCRAM-SHA-512", "shixiang-lifecycle")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_the_configured_mechanism_is_used(recorder: HandshakeRecorder, mechanism: str) -> None:
    await _try(_producer, {"kafka_bootstrap_servers": recorder.bootstrap_servers,
                           "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": mechanism,
                           "kafka_username": "shixiang-lifecycle", "kafka_password": PASSWORD})
    [attempt, *_] = recorder.authenticated()
    assert attempt.mechanism == mechanism
    if mechanism == "PLAIN":  # PLAIN carries the password itself (after authzid and user): the one the settings hold
        assert attempt.first_message is not None
        assert attempt.first_message.split(b"\0")[1:] == [b"shixiang-lifecycle", PASSWORD.encode()]
    else:
        assert attempt.scram_user == "shixiang-lifecycle"


async def test_without_settings_a_client_stays_plaintext(recorder: HandshakeRecorder) -> None:
    """The default (the embedded broker's): no login at all, the first request after ApiVersions is Metadata."""
    await _try(_producer, {"kafka_bootstrap_servers": recorder.bootstrap_servers})
    assert recorder.attempts and not recorder.authenticated()
    assert all(SASL_HANDSHAKE not in attempt.api_keys for attempt in recorder.attempts)


async def test_ssl_verifies_the_broker_and_presents_the_client_certificate(certificates: Certificates) -> None:
    mtls = {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": certificates.ca,
            "kafka_ssl_certfile": certificates.client_cert, "kafka_ssl_keyfile": certificates.client_key}
    async with handshake_recorder(certificates.broker_context()) as recorder:
        for client in (_producer, _console_groups):
            await _try(client, {"kafka_bootstrap_servers": recorder.bootstrap_servers, **mtls})
        assert recorder.attempts and all(attempt.api_keys[:1] == [API_VERSIONS] and attempt.client_certificate
                                         == "shixiang-sync" for attempt in recorder.attempts)
    async with handshake_recorder(certificates.broker_context()) as recorder:
        # Without the CA the broker's certificate is not trusted (the system's CAs did not sign it): no request.
        await _try(_producer, {"kafka_bootstrap_servers": recorder.bootstrap_servers, "kafka_security_protocol": "SSL"})
        assert all(not attempt.api_keys for attempt in recorder.attempts)


async def test_sasl_ssl_logs_in_inside_tls(certificates: Certificates) -> None:
    async with handshake_recorder(certificates.broker_context()) as recorder:
        await _try(_producer, {"kafka_bootstrap_servers": recorder.bootstrap_servers,
                               "kafka_security_protocol": "SASL_SSL", "kafka_ssl_cafile": certificates.ca,
                               "kafka_username": "shixiang-sync", "kafka_password": PASSWORD})
        [attempt, *_] = recorder.authenticated()
        assert (attempt.mechanism, attempt.scram_user, attempt.client_certificate) == (
            "SCRAM-SHA-512", "shixiang-sync", None)


async def test_the_embedded_broker_cannot_check_a_sasl_login() -> None:
    """Why the tests and ``shixiang dev`` run the embedded broker without SASL. Tansu 0.6.0 with
    ``--authentication`` refuses clients that do not log in, but no login can succeed: its memory storage
    (dynostore) keeps no SCRAM credentials (storing one is a no-op, looking one up finds none), the user-creating
    request (AlterUserScramCredentials, ``tansu user create``) itself needs a login, and PLAIN is not built in. When
    this test fails, a newer broker may check logins: then the tests' broker could require them."""
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
        "--authentication", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_for_port, port)
        create_user = await asyncio.create_subprocess_exec(
            tansu_binary(), "user", "create", "--broker", listener, "shixiang-lifecycle", PASSWORD,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        assert await create_user.wait() != 0
        for login in ({}, {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                           "sasl_plain_username": "shixiang-lifecycle", "sasl_plain_password": PASSWORD},
                      {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                       "sasl_plain_username": "anyone", "sasl_plain_password": "anything"}):
            producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=5000, **login)
            # SCRAM ends in a KeyError: aiokafka's SCRAM client reading the broker's failure answer (no 'v=').
            with pytest.raises((KafkaError, KeyError)):
                await producer.start()
            await producer.stop()
    finally:
        process.terminate()
        await process.wait()
