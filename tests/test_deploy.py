"""The Dockerfile's promises, checked without a Docker engine: read it, then run its entrypoint here.

Parsing catches a root container, a wrong port or a health check on the wrong path; starting
the entrypoint command itself (same arguments, a free local port) catches an app that does not
boot, and running the HEALTHCHECK's own command against it catches a check that can never pass.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import ROOT

from benchmarks.serve import free_port, launch, stop_server

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def last(keyword: str) -> str:
    values = [rest for key, rest in instructions() if key == keyword]
    assert values, f"Dockerfile has no {keyword}"
    return values[-1]


def exec_form(rest: str) -> list[str]:
    """A JSON-array instruction (ENTRYPOINT / CMD) as argv."""
    argv = json.loads(rest)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for key, rest in instructions():
        if key == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return env


def test_slim_python_311_base_and_cpu_torch_pinned_like_requirements() -> None:
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", last("FROM"))
    pinned = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    installs = " ".join(rest for key, rest in instructions() if key == "RUN")
    assert f"torch=={pinned.group(1)}" in installs and "--no-deps" in installs and "whl/cpu" in last("ARG")
    assert "-r requirements.txt" in installs


def test_runs_as_a_non_root_user_on_port_8501() -> None:
    assert last("USER") not in ("root", "0", "")
    assert last("EXPOSE").split("/")[0] == "8501"
    argv = exec_form(last("ENTRYPOINT"))
    assert argv[:2] == ["python", "server.py"]  # `streamlit run app.py`, warm before it listens
    assert argv[argv.index("--server.port") + 1] == "8501"
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"


def test_healthcheck_asks_the_streamlit_health_path() -> None:
    rest = last("HEALTHCHECK")
    assert "/_stcore/health" in rest and ":8501/" in rest


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".cache", "artifacts", ".streamlit/secrets.toml"} <= ignored
    assert "app.py" not in ignored and "requirements.txt" not in ignored


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The Dockerfile's ENTRYPOINT with its ENV, bound to 127.0.0.1 on a free port (headless: no browser)."""
    argv = exec_form(last("ENTRYPOINT"))
    port = free_port()
    argv[argv.index("--server.port") + 1] = str(port)
    argv[argv.index("--server.address") + 1] = "127.0.0.1"
    argv = [sys.executable, *argv[1:], "--server.headless", "true"]
    env = os.environ | dockerfile_env() | {"RESNET_LAB_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    try:
        server = launch(argv, env, f"http://127.0.0.1:{port}", log, seconds=90)
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield port
    finally:
        stop_server(server, 10)


def test_entrypoint_serves_and_health_answers_ok(served_app: int) -> None:
    assert urllib.request.urlopen(f"http://127.0.0.1:{served_app}/_stcore/health", timeout=5).read() == b"ok"


def test_the_healthcheck_command_itself_passes(served_app: int) -> None:
    argv = exec_form(last("HEALTHCHECK").split("CMD", 1)[1].strip())
    argv = [sys.executable if a == "python" else a.replace(":8501/", f":{served_app}/") for a in argv]
    assert subprocess.run(argv, timeout=30).returncode == 0


def test_page_shell_loads_nothing_from_other_hosts(served_app: int) -> None:
    html = urllib.request.urlopen(f"http://127.0.0.1:{served_app}/", timeout=5).read().decode()
    assert "<script" in html
    external = re.findall(r"""(?:src|href)=["'](?:https?:)?//[^"']+""", html)
    assert external == [], f"the page shell fetches from the network: {external}"
