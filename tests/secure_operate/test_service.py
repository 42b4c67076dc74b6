"""The secure operator service in one process, two parties on the in-memory link: results,
phases, async, kill and abort, and every refusal with its code, nothing left behind."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isthmus.link.context import LinkContext
from isthmus.secure_operate.binding import Params
from isthmus.wire.errors import SecopCode, SecopError
from isthmus.wire.secure_operate import ExecuteRequest, TaskRef, decode_direct

from .harness import body, dealer_engine, direct, make_services

pytestmark = pytest.mark.anyio

A, B = "NODE_A", "NODE_B"
PARTIES = [A, B]
#: Fixed point with 18 fraction bits: each product's truncation errs by ~2^-18 per term.
TOL = 1e-3


def req(document: dict[str, Any]) -> ExecuteRequest:
    return ExecuteRequest.model_validate(document)


def result_of(answer: Any) -> np.ndarray:
    value = answer.result[0]
    tag = value.data_value_tag
    return decode_direct(value.direct_value, tag.dtype, tag.shape)


async def run_pair(tmp: Path, expression: str, x: np.ndarray, y: np.ndarray, **extra: Any):
    (sa, sb), sessions = make_services(tmp, PARTIES)
    answers = await asyncio.gather(
        sa.execute(req(body("t1", expression, PARTIES, A, [direct("x", x)], **extra))),
        sb.execute(req(body("t1", expression, PARTIES, B, [direct("y", y)], **extra))),
        return_exceptions=True,
    )
    return answers, (sa, sb), sessions


@pytest.mark.parametrize(
    ("expression", "yshape", "plain"),
    [("matmul", (4, 3), lambda x, y: x @ y), ("mvm", (4,), lambda x, y: x @ y),
     ("add", (5, 4), np.add), ("mul", (5, 4), np.multiply)],
)  # fmt: skip
async def test_results_equal_plaintext(tmp_path: Path, expression: str, yshape, plain) -> None:
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-4, 4, (5, 4)), rng.uniform(-4, 4, yshape)
    answers, _services, sessions = await run_pair(tmp_path, expression, x, y)
    for answer in answers:
        assert answer.code == 0 and answer.status == "SUCCESS"
        np.testing.assert_allclose(result_of(answer), plain(x, y), atol=TOL)
    for held in sessions:
        assert held.opened == {"secop_t1"} and not held.held


async def test_only_result_parties_learn_the_result(tmp_path: Path) -> None:
    x, y = np.ones((2, 2)), np.eye(2)
    (a, b), _, _ = await run_pair(tmp_path, "matmul", x, y, resultParties=[B])
    assert a.code == 0 and a.result is None
    np.testing.assert_allclose(result_of(b), x, atol=TOL)


async def test_dot_sum_sigmoid_and_int_output(tmp_path: Path) -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    (a, _), _, _ = await run_pair(
        tmp_path, "dot", x, y, outputMethod=[{"name": "out", "dtype": "i8"}]
    )
    assert a.result[0].data_value_tag.dtype == "int64"
    assert result_of(a).tolist() == 32 and result_of(a).shape == ()


async def test_file_inputs_and_outputs_stay_inside_the_root(tmp_path: Path) -> None:
    (sa, sb), _ = make_services(tmp_path, PARTIES)
    (tmp_path / A / "in").mkdir(parents=True)
    x = np.arange(6, dtype="<f8").reshape(2, 3)
    (tmp_path / A / "in" / "x.bin").write_bytes(x.tobytes())
    tag = {"type": "file", "name": "x", "uri": "in", "key": "x.bin", "dtype": "f8", "shape": [2, 3]}
    out = [{"type": "file", "name": "out", "uri": "out", "key": "r.bin", "dtype": "f8"}]
    y = np.ones((3, 1))
    a, _b = await asyncio.gather(
        sa.execute(
            req(body("t2", "matmul", PARTIES, A, [{"dataValueTag": tag}], outputMethod=out))
        ),
        sb.execute(req(body("t2", "matmul", PARTIES, B, [direct("y", y)], outputMethod=out))),
    )
    assert a.code == 0 and a.result[0].direct_value is None
    written = np.frombuffer((tmp_path / A / "out" / "r.bin").read_bytes()).reshape(2, 1)
    np.testing.assert_allclose(written, x @ y, atol=TOL)
    escape = {**tag, "uri": "../..", "key": "etc"}
    with pytest.raises(SecopError) as info:
        await sa.execute(
            req(body("t3", "matmul", PARTIES, A, [{"dataValueTag": escape}], timeout=5))
        )
    assert info.value.secop_code == SecopCode.BAD_INPUT


async def test_async_mode_and_query(tmp_path: Path) -> None:
    (sa, sb), _ = make_services(tmp_path, PARTIES)
    x, y = np.ones((3, 3)), np.ones((3, 3))
    first = await sa.execute(
        req(body("t4", "matmul", PARTIES, A, [direct("x", x)], asyncMode=True))
    )
    assert first.code == 0 and first.result is None and first.status == "RUNNING"
    await sb.execute(req(body("t4", "matmul", PARTIES, B, [direct("y", y)], asyncMode=True)))
    ref = TaskRef(task_id="t4")
    for _ in range(500):
        answer = await sa.query(ref)
        if answer.status == "SUCCESS":
            break
        await asyncio.sleep(0.01)
    np.testing.assert_allclose(result_of(answer), x @ y, atol=TOL)


async def test_phases_wait_and_go_on(tmp_path: Path) -> None:
    (sa, sb), sessions = make_services(tmp_path, PARTIES)
    x, y = np.ones((2, 2)), np.ones((2, 2))
    a, b = await asyncio.gather(
        sa.execute(req(body("t5", "matmul", PARTIES, A, [direct("x", x)], phases=["PREPAR"]))),
        sb.execute(req(body("t5", "matmul", PARTIES, B, [direct("y", y)], phases=["PREPAR"]))),
    )
    assert (a.status, a.phase) == (b.status, b.phase) == ("WAITING", "CALCULATE")
    rest = {"phases": ["CALCULATE", "RETRIEVE"]}
    with pytest.raises(SecopError) as info:  # not the phase it waits for
        await sa.execute(req(body("t5", "matmul", PARTIES, A, [], phases=["RETRIEVE"])))
    assert info.value.secop_code == SecopCode.DUPLICATE_TASK
    a, b = await asyncio.gather(
        sa.execute(req(body("t5", "matmul", PARTIES, A, [], **rest))),
        sb.execute(req(body("t5", "matmul", PARTIES, B, [], **rest))),
    )
    assert a.status == "SUCCESS" and not sessions[0].held and not sessions[1].held
    np.testing.assert_allclose(result_of(a), x @ y, atol=TOL)


async def test_duplicate_task_id_is_refused(tmp_path: Path) -> None:
    _answers, (sa, _), _ = await run_pair(tmp_path, "add", np.ones(2), np.ones(2))
    with pytest.raises(SecopError) as info:
        await sa.execute(req(body("t1", "add", PARTIES, A, [direct("x", np.ones(2))])))
    assert info.value.secop_code == SecopCode.DUPLICATE_TASK


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"expression": "conv2d"}, SecopCode.UNKNOWN_EXPRESSION),
        ({"mpcProtocol": {"protocolCode": "aby3"}}, SecopCode.UNKNOWN_PROTOCOL),
        ({"parties": ["NODE_C", B]}, SecopCode.NOT_A_PARTY),
        ({"localPartyId": B}, SecopCode.NOT_A_PARTY),
        ({"resultParties": ["NODE_C"]}, SecopCode.RESULT_PARTY_NOT_A_PARTY),
        ({"inputs": [direct("z", np.ones(2))]}, SecopCode.BAD_INPUT),
        ({"inputs": [{**direct("x", np.ones(2)), "directValue": "AAAA"}]}, SecopCode.BAD_INPUT),
        ({"phases": ["PREPAR", "RETRIEVE"]}, SecopCode.BAD_PHASE),
        (
            {"mpcProtocol": {"protocolCode": "semi2k", "param": {"field": 32}}},
            SecopCode.BAD_PARAMETER,
        ),
        (
            {"mpcProtocol": {"protocolCode": "semi2k", "param": {"ttp_ca_pem": "x"}}},
            SecopCode.BAD_PARAMETER,
        ),
    ],
)
async def test_refusals_leave_nothing(tmp_path: Path, change: dict, code: SecopCode) -> None:
    (sa, _), sessions = make_services(tmp_path, PARTIES)
    with pytest.raises(SecopError) as info:
        await sa.execute(
            req({**body("t6", "add", PARTIES, A, [direct("x", np.ones(2))]), **change})
        )
    assert info.value.secop_code == code
    assert len(sa.registry) == 0 and not sessions[0].opened


async def test_shape_mismatch_is_refused_on_every_party(tmp_path: Path) -> None:
    (a, b), _, sessions = await run_pair(tmp_path, "matmul", np.ones((2, 3)), np.ones((2, 3)))
    assert isinstance(a, SecopError) and isinstance(b, SecopError)
    assert a.secop_code == b.secop_code == SecopCode.SHAPE_MISMATCH
    assert not sessions[0].held and not sessions[1].held


async def test_too_many_tasks(tmp_path: Path) -> None:
    (sa, _), _ = make_services(tmp_path, PARTIES, max_active=1)
    await sa.execute(req(body("t7", "add", PARTIES, A, [direct("x", np.ones(2))], asyncMode=True)))
    with pytest.raises(SecopError) as info:
        await sa.execute(req(body("t8", "add", PARTIES, A, [direct("x", np.ones(2))])))
    assert info.value.secop_code == SecopCode.BUSY
    await sa.kill(TaskRef(task_id="t7"))


async def _stuck_engine(link: LinkContext, params: Params):
    engine, close = await dealer_engine(link, params)

    async def never(*_: Any) -> Any:
        await asyncio.Event().wait()

    engine.matmul = never
    return engine, close


async def test_kill_frees_the_task_on_both_parties(tmp_path: Path) -> None:
    (sa, sb), sessions = make_services(tmp_path, PARTIES, engines=_stuck_engine)
    x = np.ones((2, 2))
    for service, me, name in ((sa, A, "x"), (sb, B, "y")):
        await service.execute(
            req(body("t9", "matmul", PARTIES, me, [direct(name, x)], asyncMode=True))
        )
    for _ in range(500):
        if (await sa.query(TaskRef(task_id="t9"))).phase == "CALCULATE":
            break
        await asyncio.sleep(0.01)
    killed = await sa.kill(TaskRef(task_id="t9"))
    assert killed.status == "KILLED" and killed.code == SecopCode.KILLED
    for _ in range(500):
        other = await sb.query(TaskRef(task_id="t9"))
        if other.status != "RUNNING":
            break
        await asyncio.sleep(0.01)
    assert other.status == "FAILED" and other.code == SecopCode.PEER_ABORTED
    for service, held in zip((sa, sb), sessions, strict=True):
        assert not service.registry.active() and held.opened == {"secop_t9"} and not held.held


async def test_a_partner_that_never_answers(tmp_path: Path) -> None:
    (sa, _), sessions = make_services(tmp_path, PARTIES, peer_wait_s=0.3)
    answer = None
    with pytest.raises(SecopError) as info:
        answer = await sa.execute(req(body("t10", "add", PARTIES, A, [direct("x", np.ones(2))])))
    assert answer is None and info.value.secop_code == SecopCode.PEER_TIMEOUT
    assert not sessions[0].held


async def test_a_share_of_the_wrong_length(tmp_path: Path) -> None:
    async def lying(link: LinkContext, params: Params):
        engine, close = await dealer_engine(link, params)
        honest = link.all_gather

        async def padded(value: bytes) -> list[bytes]:
            return await honest(value + b"\0")

        link.all_gather = padded  # type: ignore[method-assign]
        return engine, close

    engines = {A: dealer_engine, B: lying}

    async def by_party(link: LinkContext, params: Params):
        return await engines[PARTIES[link.rank]](link, params)

    (sa, sb), sessions = make_services(tmp_path, PARTIES, engines=by_party)
    a, _ = await asyncio.gather(
        sa.execute(req(body("t11", "mul", PARTIES, A, [direct("x", np.ones(2))], asyncMode=False))),
        sb.execute(req(body("t11", "mul", PARTIES, B, [direct("y", np.ones(2))], asyncMode=True))),
        return_exceptions=True,
    )
    assert isinstance(a, SecopError) and a.secop_code == SecopCode.PEER_BAD_SHARE
    assert "rank 1" in a.message
    for _ in range(200):
        if not sb.registry.active():
            break
        await asyncio.sleep(0.01)
    assert not sessions[0].held and not sessions[1].held


def test_expressions_catalogue(tmp_path: Path) -> None:
    (sa, _), _ = make_services(tmp_path, PARTIES)
    listed = {e.expression: e for e in sa.expressions().expressions}
    assert {"add", "sub", "mul", "mvm", "matmul", "dot", "sum", "sigmoid"} <= set(listed)
    assert [p.param_key for p in listed["matmul"].params] == ["x", "y", "result"]
    assert base64  # the Direct codec is covered in tests/wire


async def test_a_task_past_its_timeout_ends_and_frees_both_parties(tmp_path: Path) -> None:
    (sa, sb), sessions = make_services(tmp_path, PARTIES, engines=_stuck_engine)
    x = np.ones((2, 2))
    b = await sb.execute(req(body("t12", "matmul", PARTIES, B, [direct("y", x)], asyncMode=True)))
    assert b.status == "RUNNING"
    with pytest.raises(SecopError) as info:
        await sa.execute(req(body("t12", "matmul", PARTIES, A, [direct("x", x)], timeout=1)))
    assert info.value.secop_code == SecopCode.TIMEOUT
    assert (await sa.query(TaskRef(task_id="t12"))).status == "TIMEOUT"
    for _ in range(500):
        other = await sb.query(TaskRef(task_id="t12"))
        if other.status != "RUNNING":
            break
        await asyncio.sleep(0.01)
    assert other.status == "FAILED" and other.code == SecopCode.PEER_ABORTED
    for service, held in zip((sa, sb), sessions, strict=True):
        assert not service.registry.active() and not held.held
