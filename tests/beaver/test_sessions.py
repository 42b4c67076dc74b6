"""Sessions: agreement on the world, completeness, bounds, expiry, and idempotent close."""

from __future__ import annotations

import asyncio

import pytest

from isthmus.beaver.sessions import BeaverLimits, Refusal, SessionTable
from isthmus.wire.proto import interconnection_common_pb2 as common

pytestmark = pytest.mark.anyio

SEEDS = [bytes([i]) * 16 for i in range(4)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def table(**limits: float) -> tuple[SessionTable, Clock]:
    clock = Clock()
    return SessionTable(BeaverLimits(**limits), clock=clock), clock  # type: ignore[arg-type]


def join(t: SessionTable, rank: int, *, sid: str = "s", world: int = 2, seed: bytes = b"") -> None:
    t.create(sid, world_size=world, rank=rank, adjust_rank=0, seed=seed or SEEDS[rank])


def refused(reason: str) -> pytest.RaisesContext[Refusal]:
    return pytest.raises(Refusal, match=f"^{reason}:")


async def test_a_session_is_complete_when_every_rank_registered() -> None:
    t, _ = table()
    join(t, 1)
    join(t, 0)
    material = await t.material("s")
    assert material.seeds == (SEEDS[0], SEEDS[1]) and material.crypto == "AES128_CTR"


async def test_an_adjustment_waits_for_the_missing_rank() -> None:
    t, _ = table()
    join(t, 0)
    waiting = asyncio.ensure_future(t.material("s"))
    await asyncio.sleep(0)
    assert not waiting.done()
    join(t, 1)
    assert (await waiting).seeds[1] == SEEDS[1]


async def test_an_incomplete_session_is_refused_after_the_wait() -> None:
    t, _ = table(complete_wait_s=0.01)
    join(t, 0, world=3)
    join(t, 2, world=3)
    with refused("session_incomplete") as info:
        await t.material("s")
    assert info.value.code == common.GENERIC_ERROR and "[0, 2] of 3" in info.value.message


async def test_unknown_sessions_are_refused() -> None:
    t, _ = table()
    with refused("unknown_session") as info:
        await t.material("nope")
    assert info.value.code == common.INVALID_RESOURCE


def test_every_rank_must_agree_on_the_world() -> None:
    t, _ = table()
    join(t, 0, world=3)
    with refused("world_size_mismatch"):
        join(t, 1, world=2)
    with refused("session_mismatch"):
        t.create("s", world_size=3, rank=1, adjust_rank=2, seed=SEEDS[1])
    with refused("session_mismatch"):
        t.create("s", world_size=3, rank=1, adjust_rank=0, seed=SEEDS[1], crypto="SM4_CTR")


def test_a_rank_registers_one_seed_and_a_retry_is_harmless() -> None:
    t, _ = table()
    join(t, 0)
    join(t, 0)  # the same seed again: a retried call
    with refused("duplicate_rank"):
        join(t, 0, seed=SEEDS[3])


@pytest.mark.parametrize(
    ("world", "rank", "adjust_rank", "seed", "version", "reason"),
    [
        (0, 0, 0, SEEDS[0], 1, "bad_world_size"),
        (17, 0, 0, SEEDS[0], 1, "bad_world_size"),
        (2, 2, 0, SEEDS[0], 1, "bad_rank"),
        (2, -1, 0, SEEDS[0], 1, "bad_rank"),
        (2, 0, 2, SEEDS[0], 1, "bad_rank"),
        (2, 0, 0, b"short", 1, "bad_request"),
        (2, 0, 0, SEEDS[0], 2, "bad_version"),
    ],
)
def test_malformed_registrations_are_refused(
    world: int, rank: int, adjust_rank: int, seed: bytes, version: int, reason: str
) -> None:
    t, _ = table()
    with refused(reason):
        t.create(
            "s", world_size=world, rank=rank, adjust_rank=adjust_rank, seed=seed, version=version
        )
    assert len(t) == 0


def test_the_number_of_sessions_is_bounded() -> None:
    t, _ = table(max_sessions=2)
    join(t, 0, sid="a")
    join(t, 0, sid="b")
    with refused("too_many_sessions"):
        join(t, 0, sid="c")
    join(t, 1, sid="a")  # joining an existing session is still fine


async def test_idle_sessions_expire() -> None:
    t, clock = table(session_idle_s=10)
    join(t, 0, sid="old")
    clock.now = 8
    join(t, 0, sid="young")
    clock.now = 11
    t.sweep()
    assert len(t) == 1
    with refused("unknown_session"):
        await t.material("old")


async def test_a_session_ends_when_every_party_closed_it() -> None:
    t, _ = table()
    join(t, 0)
    join(t, 1)
    t.delete("s")
    assert (await t.material("s")).seeds  # one party closed; the adjust rank may go on
    t.delete("s")
    assert len(t) == 0
    t.delete("s")  # idempotent


def test_seeds_stay_out_of_reprs() -> None:
    t, _ = table()
    join(t, 0)
    assert SEEDS[0].hex() not in repr(t._sessions) and repr(SEEDS[0]) not in repr(t._sessions)
