"""The calls a scheduler makes on a job's parties (digest §2.2), defined once.

``job/create``, ``job/start``, ``task/start``, ``job/stop``, ``task/poll`` and Kuscia's
``task/stop``: each is a path, its method, the id fields it needs and may carry, and the
``Participant`` method that answers it. The east-west HTTP router (a partner's
scheduler) and the local channel (this node scheduling a job it is a party of) both
answer through ``answer``, so a call reads the same fields, checks the same ids and
reaches the same method whichever way it came: the local and remote paths cannot drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from isthmus.scheduler.participant import Participant
from isthmus.wire import paths
from isthmus.wire.errors import NotFound, ValidationFailed
from isthmus.wire.headers import INITIATOR_SIGN, MPRAC_TOKEN_SET
from isthmus.wire.ids import check_id
from isthmus.wire.mprac import parse_token_set


def required_ids(fields: Mapping[str, Any], *names: str) -> list[str]:
    """The named fields, each a valid id (``isthmus.wire.ids``): every field read here
    is a job, task or component id that ends up in file names and rows."""
    missing = [n for n in names if not fields.get(n)]
    if missing:
        raise ValidationFailed(f"{', '.join(missing)}: required")
    return [check_id(fields[n], n) for n in names]


def optional_id(fields: Mapping[str, Any], name: str) -> str | None:
    """The named field as a valid id, or None when it is absent or empty."""
    value = fields.get(name)
    return check_id(value, name) if value else None


@dataclass(frozen=True)
class Received:
    """A call as the participant sees it: who called, its ids (checked, in the order
    the call lists them), its optional ids (None when absent), the body and headers."""

    caller: str
    ids: list[str]
    options: list[str | None]
    fields: Mapping[str, Any]
    headers: Mapping[str, str]


#: ``run(participant, received)``: the participant's answer (None answers ``{}``).
Run = Callable[[Participant, Received], Awaitable[Any]]


@dataclass(frozen=True)
class PartyCall:
    """One participant call: where it goes, the ids it needs and may carry, and what
    answers it."""

    name: str
    path: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    run: Run
    method: str = "POST"


async def _create(p: Participant, r: Received) -> None:
    # The whole body is the job document: ``create`` checks every id in it by its field.
    tokens = parse_token_set(r.headers.get(MPRAC_TOKEN_SET))
    await p.create(r.caller, r.fields, tokens, r.headers.get(INITIATOR_SIGN, ""))


async def _start(p: Participant, r: Received) -> None:
    await p.start(r.caller, *r.ids)


async def _task_start(p: Participant, r: Received) -> None:
    await p.start_task(r.caller, *r.ids)


async def _stop(p: Participant, r: Received) -> None:
    await p.stop(r.caller, *r.ids, *r.options)


async def _task_stop(p: Participant, r: Received) -> None:
    await p.stop_task_id(r.caller, *r.ids)


async def _poll(p: Participant, r: Received) -> dict[str, Any]:
    (task_id,) = r.ids
    return await p.poll(r.caller, task_id, r.options[0] or "")


JOB_CREATE = PartyCall("job_create", paths.JOB_CREATE, (), (), _create)
JOB_START = PartyCall("job_start", paths.JOB_START, ("job_id",), (), _start)
TASK_START = PartyCall(
    "task_start", paths.TASK_START, ("job_id", "task_id", "task_name"), (), _task_start
)
JOB_STOP = PartyCall("job_stop", paths.JOB_STOP, ("job_id",), ("task_name",), _stop)
TASK_STOP = PartyCall("task_stop", paths.TASK_STOP, ("task_id",), (), _task_stop)
TASK_POLL = PartyCall("task_poll", paths.TASK_POLL, ("task_id",), ("role",), _poll)

#: Every participant call by its path.
PARTY_CALLS: dict[str, PartyCall] = {
    c.path: c for c in (JOB_CREATE, JOB_START, TASK_START, JOB_STOP, TASK_STOP, TASK_POLL)
}


async def answer(
    participant: Participant,
    caller: str,
    path: str,
    fields: Mapping[str, Any],
    headers: Mapping[str, str],
) -> Any:
    """The participant's answer to ``caller``'s call on ``path``; ``NotFound`` for a path
    that is not a participant call."""
    call = PARTY_CALLS.get(path)
    if call is None:
        raise NotFound(f"{path} is not a participant call")
    ids = required_ids(fields, *call.required)
    options = [optional_id(fields, name) for name in call.optional]
    return await call.run(participant, Received(caller, ids, options, fields, headers))
