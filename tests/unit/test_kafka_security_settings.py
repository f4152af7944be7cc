"""The Kafka security settings (SHIXIANG_KAFKA_*): what they refuse at start, what clients get from them, and that
the password shows nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from shared.kafka import KafkaConfig, KafkaSecurity
from shared.service import ServiceRuntime
from shared.settings import Environment, KafkaSaslMechanism, KafkaSecurityProtocol, ServiceSettings

from lifecycle.adapters.migrations import HISTORY
from lifecycle.bootstrap import create_app
from lifecycle.config import LifecycleSettings

PASSWORD = "the-kafka-password-nobody-may-read"
# production requires an identity provider (docs/identity.md)
PRODUCTION = {"environment": Environment.production, "auth_issuer": "https://idp.example.gov.cn/realms/shixiang",
              "auth_audience": "shixiang"}


def test_the_settings_are_read_from_their_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("-----BEGIN-----\n")
    monkeypatch.setenv("SHIXIANG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SHIXIANG_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("SHIXIANG_KAFKA_USERNAME", "shixiang-coding")
    monkeypatch.setenv("SHIXIANG_KAFKA_PASSWORD", PASSWORD)
    monkeypatch.setenv("SHIXIANG_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SHIXIANG_KAFKA_SSL_CERTFILE", str(tmp_path / "client.pem"))
    monkeypatch.setenv("SHIXIANG_KAFKA_SSL_KEYFILE", str(tmp_path / "client.key"))
    security = KafkaSecurity.from_settings(ServiceSettings())
    assert security == KafkaSecurity(KafkaSecurityProtocol.SASL_SSL, KafkaSaslMechanism.SCRAM_SHA_256,
                                     "shixiang-coding", SecretStr(PASSWORD), tmp_path / "ca.pem",
                                     tmp_path / "client.pem", tmp_path / "client.key")


def test_by_default_clients_use_plaintext_and_scram_sha_512_is_the_mechanism() -> None:
    settings = ServiceSettings()
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("PLAINTEXT", "SCRAM-SHA-512")
    assert KafkaSecurity.from_settings(settings).client_options() == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("credentials", [{}, {"kafka_username": "shixiang-coding"}, {"kafka_password": PASSWORD},
                                         {"kafka_username": "shixiang-coding", "kafka_password": ""}])
def test_sasl_needs_a_username_and_a_password(protocol: str, credentials: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="needs SHIXIANG_KAFKA_USERNAME and SHIXIANG_KAFKA_PASSWORD"):
        ServiceSettings(kafka_security_protocol=protocol, **credentials)


def test_sasl_clients_get_the_mechanism_user_and_password() -> None:
    settings = ServiceSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="shixiang-coding",
                               kafka_password=PASSWORD)
    assert KafkaSecurity.from_settings(settings).client_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "shixiang-coding", "sasl_plain_password": PASSWORD}


@pytest.mark.parametrize("name", ["kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"])
def test_tls_files_must_exist(name: str, tmp_path: Path) -> None:
    present = {n: tmp_path / f"{n}.pem" for n in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")}
    for path in present.values():
        path.write_text("-----BEGIN-----\n")
    ServiceSettings(kafka_security_protocol="SSL", **present)
    with pytest.raises(ValidationError, match=rf"SHIXIANG_{name.upper()}=.* is not a readable file"):
        ServiceSettings(kafka_security_protocol="SSL", **(present | {name: tmp_path / "missing.pem"}))


def test_a_client_key_needs_its_certificate(tmp_path: Path) -> None:
    (tmp_path / "client.key").write_text("-----BEGIN-----\n")
    with pytest.raises(ValidationError, match="KEYFILE is set without SHIXIANG_KAFKA_SSL_CERTFILE"):
        ServiceSettings(kafka_security_protocol="SSL", kafka_ssl_keyfile=tmp_path / "client.key")


def test_production_refuses_plaintext_unless_explicitly_allowed() -> None:
    with pytest.raises(ValidationError, match=r"PLAINTEXT is refused in production.*SHIXIANG_KAFKA_ALLOW_PLAINTEXT"):
        ServiceSettings(**PRODUCTION)
    ServiceSettings(**PRODUCTION, kafka_allow_plaintext=True)
    ServiceSettings(**PRODUCTION, kafka_security_protocol="SASL_SSL", kafka_username="shixiang-coding",
                    kafka_password=PASSWORD)
    ServiceSettings(kafka_security_protocol="PLAINTEXT")  # development: the embedded broker


def test_the_kafka_password_shows_nowhere() -> None:
    settings = LifecycleSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="shixiang-lifecycle",
                                 kafka_password=PASSWORD, jwt_secret="y" * 40)
    runtime = ServiceRuntime.build("lifecycle", settings, HISTORY)
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(runtime.kafka), str(runtime.kafka)]
    assert all(PASSWORD not in text for text in shown)
    application = create_app(settings)
    assert PASSWORD not in str(application.openapi())
    metrics = TestClient(application).get("/metrics")  # no lifespan: nothing connects
    assert metrics.status_code == 200 and PASSWORD not in metrics.text


def test_a_refused_setting_does_not_show_the_password() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="", kafka_password=PASSWORD)
    assert "needs SHIXIANG_KAFKA_USERNAME" in str(refused.value) and PASSWORD[-12:] not in str(refused.value)


def test_a_kafka_config_without_security_is_plaintext() -> None:
    assert KafkaConfig("127.0.0.1:9092").security.client_options() == {"security_protocol": "PLAINTEXT"}
