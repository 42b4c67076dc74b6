"""Starting the target's PSI party for one scenario, and reading what it concluded.

A ``Launcher`` turns a ``RunSpec`` (rank, curve, input and output files, addresses or
the relay, session) into a running party (``TargetRun``) whose ``wait`` says how it
ended: exit status (a negative one is a signal, i.e. a crash), the log tail, and the ids
it wrote as its intersection. ``CommandLauncher`` expands ``PsiTarget.command``/``env``
and runs a process (SecretFlow's ``sf_ecdh_psi.py``, an Isthmus component process,
anyone's party); ``PsiTarget.launcher`` names a factory for anything else (tests run an
Isthmus party in-process with it). A launcher may also supply the kit's link backend
(an in-memory network); otherwise the kit uses the link ``PsiTarget.link`` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from isthmus.conformance.psi.relay import PARTIES, Relay
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.link import LinkBackend

LOG_TAIL = 4000


@dataclass(frozen=True)
class RunSpec:
    """One scenario, as the target's party must be started for it."""

    session: str
    token: str
    curve: Curve
    target_rank: int
    target_items: tuple[str, ...]
    workdir: Path
    input_path: Path
    output_path: Path
    #: Node ids of rank 0 and rank 1 (blackbox headers).
    node_ids: tuple[str, str]
    handshake: bool
    #: The kit sends an invalid point in this run: the target is expected to refuse.
    poisoned: bool
    #: Direct: ``host:port`` of rank 0 and rank 1.
    addresses: tuple[str, str] | None = None
    #: Blackbox: the kit's relay (its address is ``relay.address``).
    relay: Relay | None = None

    @property
    def kit_rank(self) -> int:
        return 1 - self.target_rank

    def placeholders(self) -> dict[str, str]:
        return {
            "rank": str(self.target_rank),
            "party": PARTIES[self.target_rank],
            "curve": self.curve.bfia,
            "curve_secretflow": self.curve.secretflow,
            "workdir": str(self.workdir),
            "input": str(self.input_path),
            "output": str(self.output_path),
            "addrs": ",".join(self.addresses or ()),
            "transport": self.relay.address if self.relay is not None else "",
            "session": self.session,
            "token": self.token,
            "node_ids": ",".join(self.node_ids),
            "node_id_0": self.node_ids[0],
            "node_id_1": self.node_ids[1],
        }


@dataclass(frozen=True)
class TargetOutcome:
    """How the target's party ended."""

    #: Exit status; negative: killed by that signal (a crash); None: still running
    #: when the kit gave up on it (then it was stopped).
    returncode: int | None
    log_tail: str
    #: The ids the party wrote as its intersection; None if it wrote none.
    rows: frozenset[str] | None

    @property
    def crashed(self) -> bool:
        return self.returncode is not None and self.returncode < 0

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


class TargetRun(Protocol):
    async def wait(self) -> TargetOutcome:
        """Until the party ends."""

    async def stop(self) -> None:
        """End it now (idempotent)."""


class Launcher(Protocol):
    def kit_backend(self, spec: RunSpec) -> LinkBackend | None:
        """The kit's link backend, if this launcher wires the link itself."""

    async def launch(self, spec: RunSpec) -> TargetRun:
        """Start the target's party for ``spec``."""


def write_ids(path: Path, ids: tuple[str, ...] | list[str]) -> None:
    path.write_text("id\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")


def read_ids(path: Path) -> frozenset[str] | None:
    """The first column of a CSV with a header, or None when there is no file."""
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return frozenset(row[0] for row in rows[1:] if row)


class _Process:
    def __init__(self, process: asyncio.subprocess.Process, output: Path) -> None:
        self.process = process
        self.output = output
        self._log: bytes | None = None

    async def wait(self) -> TargetOutcome:
        if self._log is None:
            out, _ = await self.process.communicate()
            self._log = out or b""
        tail = self._log.decode("utf-8", "replace")[-LOG_TAIL:]
        return TargetOutcome(self.process.returncode, tail, read_ids(self.output))

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.wait(), 10)


class CommandLauncher:
    """Runs ``PsiTarget.command`` with ``PsiTarget.env`` (both expanded) per scenario."""

    def __init__(self, psi: PsiTarget) -> None:
        self.psi = psi

    def kit_backend(self, spec: RunSpec) -> LinkBackend | None:
        return None

    async def launch(self, spec: RunSpec) -> TargetRun:
        values = spec.placeholders()
        argv = [part.format(**values) for part in self.psi.command]
        env = {**os.environ, **{k: v.format(**values) for k, v in self.psi.env.items()}}
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return _Process(process, spec.output_path)


def load_launcher(psi: PsiTarget) -> Launcher:
    """The launcher ``psi`` describes."""
    if psi.launcher is None:
        return CommandLauncher(psi)
    module, _, name = psi.launcher.partition(":")
    factory: Any = getattr(importlib.import_module(module), name)
    launcher: Launcher = factory(psi)
    return launcher
