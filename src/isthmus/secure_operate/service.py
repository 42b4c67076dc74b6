"""The secure operator service of one node: execute, query, kill, expressions (digest §3).

**What it guarantees.**

* A request is checked whole before anything is held (``binding.check``): a refusal
  leaves no task, no session, no file behind.
* Each party's inputs stay on its node until the engine shares them; parties first
  exchange names, dtypes and shapes (``binding.bind``), so every party knows every shape
  and refuses a mismatch with the same code.
* The result is revealed to ``resultParties`` only; a party outside them receives no
  share of it and answers without ``result``.
* Whatever ends a task (success, failure, ``kill``, its ``timeout``, a partner's abort, a
  partner that never answers within ``peer_wait_s``) frees everything it held: triples,
  the link, its transport session. A task that fails or is killed here tells its partners
  (``link.AbortableBackend``), which end theirs at once.
* At most ``max_active`` tasks run at a time (``registry``).

The engine and the transport are handed in (``EngineFactory``, ``BackendFactory``,
``Sessions``): this layer may not import the node or the transport, and tests run whole
tasks in one process on the in-memory link.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from isthmus.link.backends import LinkBackend
from isthmus.link.context import LinkContext
from isthmus.secure_operate import binding, storage
from isthmus.secure_operate.expressions import Spec, catalogue
from isthmus.secure_operate.link import ABORT_SEND_S, AbortableBackend
from isthmus.secure_operate.registry import Status, Task, TaskKey, TaskRegistry, key_of
from isthmus.wire.errors import (
    IsthmusError,
    LinkError,
    LinkTimeout,
    MpcError,
    MpcInputError,
    SecopBadShare,
    SecopCode,
    SecopError,
    SecopInvalid,
    SecopKilled,
    SecopPeerAborted,
    SecopPeerError,
    SecopPeerTimeout,
    SecopSessionError,
    SecopTimeout,
    TransportRefused,
)
from isthmus.wire.secure_operate import (
    DIRECT,
    FILE,
    PHASES,
    DataValue,
    DataValueTag,
    ExecuteRequest,
    ExecuteResponse,
    ExpressionsResponse,
    Phase,
    TaskRef,
    decode_direct,
    encode_direct,
)

log = logging.getLogger(__name__)

#: How long a party waits for a partner's message (and for the link's connect).
PEER_WAIT_S = 60.0
#: The link's chunk: one transport push per 8 MiB (a 1000 x 1000 ring-64 opening is one
#: or two), within the transport's 64 MiB message bound; the link's 1 MiB default made
#: eight pushes, commits and forwards of each.
CHUNK = 8 * 1024 * 1024
#: How long a finished task's graceful link close may take.
CLOSE_S = 5.0


class Sessions(Protocol):
    """This node's transport sessions (the node passes its transport service in)."""

    async def open(self, session_id: str, token: str, parties: frozenset[str]) -> None: ...

    async def release(self, session_id: str) -> None: ...


#: (session id, session token, parties, own rank) -> the backend of the task's link.
BackendFactory = Callable[[str, str, list[str], int], LinkBackend]
#: (link, params) -> (engine, what to close when the task ends).
EngineFactory = Callable[
    [LinkContext, binding.Params], Awaitable[tuple[Any, Callable[[], Awaitable[None]]]]
]


def session_id_of(key: TaskKey) -> str:
    """The transport session of a task: ``secop_<taskId>[_<subTaskId>]``."""
    return "secop_" + (key[0] if key[1] is None else f"{key[0]}_{key[1]}")


class SecureOperateService:
    def __init__(
        self,
        *,
        node_id: str,
        storage_root: Path,
        sessions: Sessions,
        backends: BackendFactory,
        engines: EngineFactory,
        engine_class: type | None = None,
        max_active: int = 8,
        peer_wait_s: float = PEER_WAIT_S,
    ) -> None:
        self.node_id = node_id
        self.storage_root = storage_root
        self.sessions = sessions
        self.backends = backends
        self.engines = engines
        self.specs: dict[str, Spec] = catalogue(engine_class)
        self.registry = TaskRegistry(max_active=max_active)
        self.peer_wait_s = peer_wait_s

    # --- the four calls -------------------------------------------------------------

    def expressions(self) -> ExpressionsResponse:
        return ExpressionsResponse(expressions=[s.describe() for s in self.specs.values()])

    async def execute(self, request: ExecuteRequest) -> ExecuteResponse:
        waiting = self.registry.continuation(request)
        if waiting is not None:
            phases = binding_phases(request)
            waiting.resume(phases)
            task = waiting
        else:
            spec = binding.check(request, self.node_id, self.specs)
            for value in request.inputs:  # a Direct value that does not decode: refused now
                tag = value.data_value_tag
                if tag.type == DIRECT:
                    decode_direct(value.direct_value or "", tag.dtype, tag.shape)
                else:
                    storage.path_of(self.storage_root, tag)
            for tag in request.output_method:
                if tag.type == FILE:
                    storage.path_of(self.storage_root, tag)
            binding_phases(request)
            task = self.registry.add(request)
            task.runner = asyncio.get_running_loop().create_task(
                self._run(task, spec), name=f"secop-{session_id_of(task.key)}"
            )
        if request.async_mode:
            return self._view(task)
        await task.paused.wait()
        return self._view(task, raise_error=True)

    async def query(self, ref: TaskRef) -> ExecuteResponse:
        return self._view(self.registry.get(key_of(ref.task_id, ref.sub_task_id)))

    async def kill(self, ref: TaskRef) -> ExecuteResponse:
        task = self.registry.get(key_of(ref.task_id, ref.sub_task_id))
        if not task.finished and task.runner is not None:
            task.held["killed"] = True
            task.runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task.runner)
        return self._view(task)

    async def aclose(self) -> None:
        """Kill every task (the node is stopping)."""
        for task in self.registry.active():
            await self.kill(TaskRef(task_id=task.key[0], sub_task_id=task.key[1]))

    # --- replies --------------------------------------------------------------------

    def _view(self, task: Task, *, raise_error: bool = False) -> ExecuteResponse:
        if raise_error and task.error is not None:
            raise task.error
        error = task.error
        return ExecuteResponse(
            code=int(error.secop_code) if error is not None else 0,
            msg=error.message if error is not None else "success",
            result=task.result if task.status == Status.SUCCESS else None,
            task_id=task.key[0],
            sub_task_id=task.key[1],
            status=str(task.status),
            phase=str(task.phase),
        )

    # --- running a task -------------------------------------------------------------

    async def _gate(self, task: Task, phase: Phase) -> None:
        task.phase = phase
        if not task.may_run(phase):
            task.wait_for(phase)
            await task.proceed.wait()

    async def _run(self, task: Task, spec: Spec) -> None:
        """Run the phases; whatever ends them, free what the task held, then record the
        end (so a caller woken by the end finds everything already freed)."""
        request = task.request
        status, error = Status.SUCCESS, None
        try:
            async with asyncio.timeout(request.timeout or None):
                await self._phases(task, spec)
        except asyncio.CancelledError:
            aborted = task.held.get("peer_abort")
            if aborted is not None:
                status, error = Status.FAILED, aborted
            else:
                await self._tell_partners(task, SecopCode.KILLED, "killed")
                status, error = Status.KILLED, SecopKilled(f"task {task.key[0]} was killed")
        except TimeoutError:
            late = SecopTimeout(f"task {task.key[0]} did not end within {request.timeout} s")
            await self._tell_partners(task, late.secop_code, late.message)
            status, error = Status.TIMEOUT, late
        except Exception as exc:  # every failure ends the task, and is reported, never raised
            error = as_secop_error(exc)
            if not isinstance(error, SecopPeerAborted):
                await self._tell_partners(task, error.secop_code, error.message)
            if error.secop_code == SecopCode.SYSTEM:
                log.exception("secure operator task %s failed", task.key[0])
            status = Status.FAILED
        finally:
            await self._free(task)
            task.end(status, error)

    async def _phases(self, task: Task, spec: Spec) -> None:
        request = task.request
        parties = list(request.parties)
        rank = parties.index(request.local_party_id)
        params = dataclasses.replace(binding.params_of(request), session=session_id_of(task.key))
        await self._gate(task, Phase.PREPAR)
        values = {v.data_value_tag.name: self._load(v) for v in request.inputs}
        link = await self._connect(task, parties, rank)
        announced = await link.all_gather(binding.announcement(request))
        bound = binding.bind(spec, announced)
        await self._gate(task, Phase.CALCULATE)
        engine, close = await self.engines(link.spawn(), params)
        task.held["engine_close"] = close
        args = [
            engine.input(bound.owners[name], values.get(name), bound.shapes[name])
            for name in spec.inputs
        ]
        out = await spec.run(engine, args)
        await self._gate(task, Phase.RETRIEVE)
        to = [parties.index(p) for p in binding.result_parties(request)]
        revealed = await engine.reveal(out, to=to)
        if revealed is not None:
            task.result = self._outputs(request, np.asarray(revealed), bound.result_shape)
        with contextlib.suppress(LinkError, TimeoutError):
            await link.close(CLOSE_S)  # FIN both ways: every message of ours was taken
        task.held.pop("backend", None)

    async def _connect(self, task: Task, parties: list[str], rank: int) -> LinkContext:
        session = session_id_of(task.key)
        token = secrets.token_urlsafe(24)
        others = frozenset(p for i, p in enumerate(parties) if i != rank)
        try:
            await self.sessions.open(session, token, others)
        except TransportRefused as exc:
            raise SecopSessionError(f"transport session {session}: {exc.message}") from exc
        task.held["session"] = session

        async def on_abort(sender: int, reason: dict[str, Any]) -> None:
            if task.finished or task.runner is None:
                return
            task.held["peer_abort"] = SecopPeerAborted(
                f"party {parties[sender]} ended the task: {str(reason.get('msg', ''))[:200]}",
                details={"party": parties[sender], "code": reason.get("code")},
            )
            task.runner.cancel()

        backend = AbortableBackend(
            self.backends(session, token, parties, rank),
            rank,
            len(parties),
            on_abort,
            abort_send_s=min(ABORT_SEND_S, self.peer_wait_s),
        )
        task.held["backend"] = backend
        link = LinkContext(
            rank, len(parties), backend, recv_timeout_s=self.peer_wait_s, max_chunk_bytes=CHUNK
        )
        await link.start(connect_timeout_s=self.peer_wait_s)
        return link

    def _load(self, value: DataValue) -> np.ndarray[Any, Any]:
        tag = value.data_value_tag
        if tag.type == FILE:
            array = storage.read(self.storage_root, tag)
        else:
            array = decode_direct(value.direct_value or "", tag.dtype, tag.shape)
        return np.asarray(array, dtype=np.float64)

    def _outputs(
        self, request: ExecuteRequest, revealed: np.ndarray[Any, Any], shape: tuple[int, ...]
    ) -> list[DataValue]:
        given = request.output_method[0] if request.output_method else None
        tag = DataValueTag(
            type=given.type if given else DIRECT,
            name=given.name if given else "result",
            uri=given.uri if given else None,
            key=given.key if given else None,
            dtype=given.dtype if given else "float64",
            shape=list(shape),
        )
        value = revealed.reshape(shape)
        if not tag.dtype.startswith("float"):
            value = np.rint(value)
        if tag.type == FILE:
            storage.write(self.storage_root, tag, value)
            return [DataValue(data_value_tag=tag)]
        return [DataValue(data_value_tag=tag, direct_value=encode_direct(value, tag.dtype))]

    async def _tell_partners(self, task: Task, code: int, message: str) -> None:
        backend = task.held.get("backend")
        if isinstance(backend, AbortableBackend):
            await backend.abort({"code": int(code), "msg": message[:500]})

    async def _free(self, task: Task) -> None:
        """Let go of everything the task held, each step bounded and independent."""
        close = task.held.pop("engine_close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), CLOSE_S)
        backend = task.held.pop("backend", None)
        if backend is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(backend.stop(), CLOSE_S)
        session = task.held.pop("session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                await self.sessions.release(session)
        task.held.pop("peer_abort", None)


def binding_phases(request: ExecuteRequest) -> list[Phase]:
    """The request's phases: contiguous and in order (BAD_PHASE otherwise)."""
    if not request.phases:
        return list(PHASES)
    indices = [PHASES.index(p) for p in request.phases]
    if indices != list(range(indices[0], indices[0] + len(indices))):
        raise SecopInvalid(
            f"phases {[str(p) for p in request.phases]}: contiguous, in the order "
            f"{[str(p) for p in PHASES]}",
            SecopCode.BAD_PHASE,
        )
    return list(request.phases)


def as_secop_error(exc: BaseException) -> SecopError:
    """The service's error for whatever ended a task."""
    if isinstance(exc, SecopError):
        return exc
    if isinstance(exc, LinkTimeout):
        return SecopPeerTimeout(f"a partner did not answer: {exc.message}")
    if isinstance(exc, MpcInputError):
        return SecopInvalid(exc.message, SecopCode.BAD_INPUT, details=exc.details)
    if isinstance(exc, MpcError):
        return SecopBadShare(exc.message, details=exc.details)
    if isinstance(exc, LinkError):
        return SecopPeerError(f"the link to a partner failed: {exc.message}")
    if isinstance(exc, IsthmusError):
        return SecopError(exc.message)
    return SecopError(f"internal error ({type(exc).__name__}); see the node log")
