"""A stand-in broker that records how Kafka clients try to authenticate, for the client side of Kafka security.

The embedded Tansu broker cannot check a SASL login (deploy/README.md, "Pointing the suite at an existing secured
Kafka"), so what each client sends is checked here instead: the server answers ApiVersions and SaslHandshake the way
a Kafka broker does, records the mechanism asked for, the first SASL message (SCRAM's ``n,,n=<user>,r=<nonce>``,
PLAIN's ``<authzid>\\0<user>\\0<password>``) and the TLS client certificate, then hangs up: the client fails to
start, which is fine, what it sent is the point. Requests are decoded with aiokafka's own protocol classes."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    SaslAuthenticateRequest_v0,
    SaslHandShakeRequest_v0,
    SaslHandShakeResponse_v1,
)
from aiokafka.protocol.api import RequestHeader_v1

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass
class Attempt:
    """One connection: the API keys it sent, in order, the SASL mechanism, its first SASL message and the common
    name of its TLS client certificate (None: none presented, or no TLS)."""

    api_keys: list[int] = field(default_factory=list)
    mechanism: str | None = None
    first_message: bytes | None = None
    client_certificate: str | None = None

    @property
    def scram_user(self) -> str | None:
        """The user of a SCRAM client-first message (``n,,n=<user>,r=<nonce>``; RFC 5802 escapes ``=``, ``,``)."""
        if self.first_message is None or not self.first_message.startswith(b"n,,n="):
            return None
        user = self.first_message[len(b"n,,n="):].split(b",", 1)[0].decode()
        return user.replace("=2C", ",").replace("=3D", "=")


@dataclass
class HandshakeRecorder:
    port: int
    attempts: list[Attempt]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def authenticated(self) -> list[Attempt]:
        """The connections that got as far as a first SASL message."""
        return [a for a in self.attempts if a.first_message is not None]


async def _serve(attempts: list[Attempt], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    attempt = Attempt()
    attempts.append(attempt)
    peer = writer.get_extra_info("peercert")
    if peer:
        attempt.client_certificate = dict(name for rdn in peer["subject"] for name in rdn).get("commonName")
    try:
        while True:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            body = BytesIO(await reader.readexactly(size))
            api_key, _version, correlation_id, _client_id = RequestHeader_v1.SCHEMA.decode(body)
            attempt.api_keys.append(api_key)
            if api_key == API_VERSIONS:
                answer = ApiVersionResponse_v0(0, [(API_VERSIONS, 0, 0), (SASL_HANDSHAKE, 0, 1),
                                                   (SASL_AUTHENTICATE, 0, 1)]).encode()
            elif api_key == SASL_HANDSHAKE:
                attempt.mechanism = SaslHandShakeRequest_v0.decode(body).mechanism
                answer = SaslHandShakeResponse_v1(0, MECHANISMS).encode()
            elif api_key == SASL_AUTHENTICATE:
                attempt.first_message = SaslAuthenticateRequest_v0.decode(body).sasl_auth_bytes
                return
            else:  # an unauthenticated client asking for metadata, topics…: a secured broker would hang up too
                return
            payload = struct.pack(">i", correlation_id) + answer
            writer.write(struct.pack(">i", len(payload)) + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def handshake_recorder(tls: ssl.SSLContext | None = None) -> AsyncIterator[HandshakeRecorder]:
    attempts: list[Attempt] = []
    server = await asyncio.start_server(lambda r, w: _serve(attempts, r, w), "127.0.0.1", 0, ssl=tls)
    try:
        yield HandshakeRecorder(server.sockets[0].getsockname()[1], attempts)
    finally:
        server.close()
        await server.wait_closed()


@dataclass(frozen=True)
class Certificates:
    """A test CA, a broker certificate for 127.0.0.1 and a client certificate, made with the openssl CLI."""

    ca: Path
    broker_cert: Path
    broker_key: Path
    client_cert: Path
    client_key: Path

    def broker_context(self) -> ssl.SSLContext:
        """The stand-in broker's TLS: its certificate, and client certificates checked against the CA when sent."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.load_cert_chain(self.broker_cert, self.broker_key)
        context.verify_mode = ssl.CERT_OPTIONAL
        return context


def make_certificates(directory: Path, client_name: str) -> Certificates:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca")
    for name, common_name, extension in (("broker", "broker", "subjectAltName=IP:127.0.0.1"),
                                         ("client", client_name, "extendedKeyUsage=clientAuth")):
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return Certificates(directory / "ca.pem", directory / "broker.pem", directory / "broker.key",
                        directory / "client.pem", directory / "client.key")
