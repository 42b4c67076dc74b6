"""Run one component from the container contract, start to exit code.

``run_container(environ)`` is the whole life of a BFIA algorithm container: read the
environment, find the component, validate its parameters against its self-description,
report RUNNING, run it, report SUCCESS or FAILED, and return the exit code (the final
word). Stdout is the log (the contract's rule); a copy goes to ``config.log.path`` when
the platform gives one. Only ids and reasons are logged, never the token or data rows.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from isthmus.components.callback import Callback
from isthmus.components.catalog import Catalog
from isthmus.components.env import ContainerEnv, read_env
from isthmus.components.errors import (
    AlgorithmError,
    ComponentError,
    ContractError,
    UnknownComponent,
)
from isthmus.components.runtime import Component, RunContext
from isthmus.components.storage import open_storage
from isthmus.wire.status import Status

log = logging.getLogger("isthmus.component")

#: Every line of a task's log names its job and task, so lines gathered from many
#: containers into one pipeline still say whose they are.
_FORMAT = "%(asctime)s %(levelname)s %(name)s job_id=%(job_id)s task_id=%(task_id)s %(message)s"


class _TaskIds(logging.Filter):
    """Stamps each record with the container's job and task ids (``-`` until the
    environment has been read). The job id is the session's (``session_<job id>``)."""

    job_id = "-"
    task_id = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id, record.task_id = self.job_id, self.task_id
        return True


_IDS = _TaskIds()


def run_container(
    environ: Mapping[str, str], *, components: Mapping[str, type[Component]] | None = None
) -> int:
    """The container's life; returns its exit code."""
    _log_to_stdout()
    try:
        env = read_env(environ)
    except ContractError as exc:
        log.error("bad container environment: %s", exc.message)
        return exc.exit_code
    _TaskIds.task_id = env.task_id
    _TaskIds.job_id = env.session_id.removeprefix("session_") or "-"
    _log_to_file(env)
    callback = Callback(env.callback, env.task_id, env.callback_role)
    try:
        code = _run(env, components if components is not None else Catalog(), callback)
    finally:
        callback.close()
    return code


def _run(env: ContainerEnv, components: Mapping[str, type[Component]], callback: Callback) -> int:
    log.info(
        "task %s: component %s as %s (rank %d of %d), session %s",
        env.task_id,
        env.component,
        env.callback_role,
        env.rank,
        len(env.parties),
        env.session_id,
    )
    try:
        cls = components.get(env.component)
        if cls is None:
            raise UnknownComponent(
                f"runtime.component.name {env.component!r} is not in this image "
                f"({', '.join(sorted(components)) or 'none'})"
            )
        unknown_roles = [r.rpartition(".")[0] for r in env.self_roles]
        unknown_roles = [r for r in unknown_roles if r not in cls.spec.roles]
        if unknown_roles:
            raise ContractError(
                f"component {cls.spec.name} has no role {unknown_roles[0]!r} "
                f"(roleList {list(cls.spec.roles)})"
            )
        params = cls.spec.parameters(env.parameters)
        storage = open_storage(env.storage)
        callback.report(Status.RUNNING)
        ctx = RunContext(env, params, storage, log)
        asyncio.run(_execute(cls(), ctx))
    except ComponentError as exc:
        log.error("task %s FAILED: %s", env.task_id, exc.message)
        callback.report(Status.FAILED)
        return exc.exit_code
    except Exception as exc:  # a bug or an unexpected peer: fail the task, keep the trace
        log.exception("task %s FAILED: %s", env.task_id, type(exc).__name__)
        callback.report(Status.FAILED)
        return AlgorithmError.exit_code
    log.info("task %s SUCCESS", env.task_id)
    callback.report(Status.SUCCESS)
    return 0


async def _execute(instance: Component, ctx: RunContext) -> None:
    try:
        await instance.run(ctx)
    except BaseException:
        await ctx.close(failed=True)
        raise
    await ctx.close()


def _log_to_stdout() -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_isthmus_component", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(_IDS)
        handler._isthmus_component = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def _log_to_file(env: ContainerEnv) -> None:
    if env.log_path is None:
        return
    try:
        directory = Path(env.log_path)
        directory.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(directory / f"{env.task_id}.log", encoding="utf-8")
    except OSError as exc:
        log.warning(
            "config.log.path %s is not writable (%s); logging to stdout only", env.log_path, exc
        )
        return
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_IDS)
    logging.getLogger().addHandler(handler)
