"""The node image (``deploy/node.Dockerfile``) and the systemd unit
(``deploy/isthmus-node.service``) start the node the way the CLI takes it.

Docker cannot build here, so the image is checked for what can be read from it: every
file it copies exists and passes its ignore file, its command's words are the CLI's, its
ports are the node's defaults (on EXPOSE, in the overrides and in the HEALTHCHECK on
``/readyz``), its ``ISTHMUS_*`` overrides name real settings, it runs as a user who is
not root, and its volume is the home the command runs. The unit's ExecStart is checked
the same way, and the whole unit by ``systemd-analyze verify`` where systemd is installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from isthmus.cli.main import app
from isthmus.node.config import AdminSection, InterconnSection, NodeConfig, TransportSection
from isthmus.wire.paths import READYZ

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "node.Dockerfile"
DOCKERIGNORE = REPO / "deploy" / "node.Dockerfile.dockerignore"
UNIT = REPO / "deploy" / "isthmus-node.service"
HOME = "/var/lib/isthmus"
PORTS = {
    "INTERCONN": InterconnSection().port,
    "ADMIN": AdminSection().port,
    "TRANSPORT": TransportSection().port,
}


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments): continuation lines joined,
    comments dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        found.append((keyword.upper(), " ".join(rest.split())))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return found


def _all(keyword: str) -> list[str]:
    return [rest for kw, rest in _instructions(DOCKERFILE.read_text()) if kw == keyword]


def _one(keyword: str) -> str:
    found = _all(keyword)
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


def _cli_command(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI command that ``words`` (after ``isthmus``) name, and the words left.
    (Typer's commands are its own click's: groups are told by their ``commands``.)"""
    command = typer.main.get_command(app)
    while words and words[0] in getattr(command, "commands", {}):
        command, words = command.commands[words[0]], words[1:]
    assert not hasattr(command, "commands"), f"not a command: {words}"
    return command, words


def _check_cli(argv: list[str]) -> dict[str, Any]:
    """``argv`` runs the ``isthmus`` entry point with options its command has; returns
    the options' values by their long names (each option here takes one value)."""
    assert argv[0] == "isthmus" or argv[0].endswith("/bin/isthmus"), argv
    command, rest = _cli_command(argv[1:])
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    values: dict[str, Any] = {}
    while rest:
        option, rest = rest[0], rest[1:]
        assert option in known, f"{' '.join(argv)}: {option} is not an option of the CLI"
        values[option], rest = rest[0], rest[1:]
    assert "--detach" not in values, "the service manager supervises a foreground node"
    return values


# --- the node image -------------------------------------------------------------------


def test_the_image_copies_files_that_exist_and_pass_its_ignore_file() -> None:
    stages = {m.group(1) for m in re.finditer(r"\bAS\s+(\S+)", " ".join(_all("FROM")), re.I)}
    ignore = DOCKERIGNORE.read_text().splitlines()
    copies = _all("COPY")
    assert copies
    for line in copies:
        words = line.split()
        stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        if stage is not None:
            assert stage in stages, f"COPY --from={stage}: no such build stage"
            continue
        *sources, _ = words
        for source in sources:
            assert (REPO / source).exists(), f"the image copies {source}, which is missing"
            assert f"!{source}" in ignore or f"!{source}/" in ignore, (
                f"{DOCKERIGNORE.name} leaves {source} out of the build context"
            )


def test_the_image_runs_the_node_in_the_foreground_on_its_volume() -> None:
    command = json.loads(_one("CMD"))
    assert command[:3] == ["isthmus", "node", "start"]
    assert _check_cli(command) == {"--home": HOME}
    assert _one("VOLUME") in (HOME, json.dumps([HOME]))
    assert _all("WORKDIR")[-1] == HOME


def _env() -> dict[str, str]:
    pairs = [word.split("=", 1) for line in _all("ENV") for word in line.split()]
    assert all(len(pair) == 2 for pair in pairs), "ENV takes KEY=VALUE pairs"
    return dict(pairs)  # type: ignore[arg-type]


def test_the_image_overrides_only_real_settings() -> None:
    env = _env()
    home_option = next(p for p in _cli_command(["node", "start"])[0].params if "--home" in p.opts)
    assert env["ISTHMUS_HOME"] == HOME and home_option.envvar == "ISTHMUS_HOME"
    overrides = {k: v for k, v in env.items() if k.startswith("ISTHMUS_") and "__" in k}
    assert overrides
    for key, value in overrides.items():
        section, name = key.removeprefix("ISTHMUS_").lower().split("__")
        model = NodeConfig.model_fields[section].annotation
        assert isinstance(model, type) and name in model.model_fields, f"{key}: no such setting"
        model.model_validate({name: value})  # and the value is one the node accepts


def test_the_image_exposes_and_checks_the_node_ports() -> None:
    assert {int(port) for port in _one("EXPOSE").split()} == set(PORTS.values())
    env = _env()
    for section, port in PORTS.items():
        # Pinned in the image so that node.toml cannot move a port away from EXPOSE.
        assert env[f"ISTHMUS_{section}__PORT"] == str(port)
    health = _one("HEALTHCHECK")
    assert f"//127.0.0.1:{PORTS['ADMIN']}{READYZ}'" in health, health
    assert json.loads(health.split(" CMD ", 1)[1])[0] == "python"


def test_the_image_runs_as_a_user_who_is_not_root() -> None:
    instructions = [kw for kw, _ in _instructions(DOCKERFILE.read_text())]
    users = _all("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")
    (useradd,) = [c for r in _all("RUN") for c in r.split("&&") if "useradd" in c]
    words = shlex.split(useradd)
    assert words[-1] == users[-1] and int(words[words.index("--uid") + 1]) != 0


# --- the systemd unit -----------------------------------------------------------------


def _unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_the_installed_cli_in_the_foreground() -> None:
    service = _unit()["Service"]
    assert service["Type"] == ["simple"]
    (exec_start,) = service["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/isthmus/venv/bin/isthmus"
    assert argv[1:3] == ["node", "start"]
    assert _check_cli(argv) == {"--home": HOME}
    assert service["User"][0] not in ("root", "0")
    assert HOME in service["ReadWritePaths"][0].split()
    assert service["ProtectSystem"] == ["strict"]
    assert service["Restart"] == ["on-failure"]


def test_systemd_accepts_every_directive_of_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("SKIPPED LOUDLY: systemd-analyze is not installed; the unit is unverified")
    # verify also wants ExecStart's program to exist: stand one in for the venv's.
    program = tmp_path / "isthmus"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/isthmus/venv/bin/isthmus", str(program)))
    done = subprocess.run(  # noqa: PLW1510 - checked below
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # It exits 0 after an unknown key or a bad value too, so any word from it is a failure.
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not output, output
