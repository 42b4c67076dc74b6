"""SS-LR training over the in-memory link equals the plaintext fixed-point schedule.

The documented error (docs/protocol.md §18): every truncation is off by at most one unit
of 2^-fxp_bits (probabilistic truncation: one unit, with a failure probability of about
|x|/2^(ring-1) per element), so after a few dozen steps with |x| <= 2 the weights stay
within 1e-3 of :func:`plaintext_reference`; a wrong step (sign, scale, bias, batch order)
moves them by far more. Triples come from the engine's insecure seeded dealer (every party
derives the same triples), so the test exercises the algorithm and the engine, not
Paillier.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from isthmus.components.builtin.ss_lr import component
from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.components.builtin.ss_lr.train import plaintext_reference, train
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.mpc.engine import Semi2k, Shared, TruncMode
from isthmus.mpc.ring import Ring
from isthmus.testing.mpc_dealer import SeededDealer


def dataset(rows: int, feature_nums: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, size=(rows, sum(feature_nums)))
    truth = rng.normal(size=sum(feature_nums))
    y = (x @ truth + rng.normal(scale=0.3, size=rows) > 0).astype(np.float64)
    return x, y


def run_parties(
    plan: TrainPlan, x: np.ndarray, y: np.ndarray, bits: int, trunc_mode: TruncMode
) -> list[np.ndarray]:
    n = len(plan.feature_nums)
    bounds = np.cumsum([0, *plan.feature_nums])
    ring = Ring(bits)

    async def party(link: LinkContext) -> np.ndarray:
        engine = Semi2k(
            link,
            ring,
            18,
            SeededDealer(ring, link.rank, n),
            trunc_mode=trunc_mode,
        )
        await engine.setup()
        own = x[:, bounds[link.rank] : bounds[link.rank + 1]]
        w = await train(engine, own, y if link.rank == plan.label_rank else None, plan)
        value = await engine.reveal(w)
        assert value is not None
        return value

    async def go() -> list[np.ndarray]:
        net = MemoryNetwork()
        links = [LinkContext(r, n, net.backend(r), recv_timeout_s=10) for r in range(n)]
        await asyncio.gather(*(link.start() for link in links))
        return list(await asyncio.gather(*(party(link) for link in links)))

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("feature_nums", "label_rank", "bits", "trunc_mode"),
    [
        ((2, 1), 0, 64, "probabilistic"),
        ((1, 2), 1, 128, "probabilistic"),
        ((1, 1, 2), 2, 64, "probabilistic"),
        ((2, 0, 1), 0, 64, "precise"),
    ],
)
def test_training_equals_the_plaintext_fixed_point_schedule(
    feature_nums: tuple[int, ...], label_rank: int, bits: int, trunc_mode: TruncMode
) -> None:
    plan = TrainPlan(2, 16, 0.5, 0.1, feature_nums, label_rank)
    x, y = dataset(90, feature_nums)  # 5 batches an epoch, the last 10 rows discarded
    revealed = run_parties(plan, x, y, bits, trunc_mode)
    expected = plaintext_reference(x, y, plan, 18)
    for value in revealed:
        assert value.shape == (sum(feature_nums) + 1, 1)
        assert np.max(np.abs(value - expected)) < 1e-3, (value.ravel(), expected.ravel())


def test_the_plan_discards_the_partial_batch() -> None:
    plan = TrainPlan(1, 16, 0.1, 0.0, (1,), 0)
    assert plan.batches(47) == [(0, 16), (16, 32)] and plan.width == 2


@pytest.mark.parametrize(("n", "label_rank"), [(2, 0), (3, 1)])
def test_joint_scores_reach_the_label_owner_only_and_masked(
    n: int, label_rank: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    partials = [rng.normal(size=12) for _ in range(n)]
    ring = Ring(64)
    seen: dict[int, np.ndarray] = {}

    original = component.mask_among

    async def spy(link_: LinkContext, ring_: Ring, x: Shared, holders: list[int]) -> Shared:
        masked = await original(link_, ring_, x, holders)
        seen[link_.rank] = ring_.decode(masked.share, 18).reshape(-1)
        return masked

    monkeypatch.setattr(component, "mask_among", spy)

    async def party(link: LinkContext) -> np.ndarray | None:
        return await component.joint_scores(link, ring, 18, partials[link.rank], label_rank)

    async def go() -> list[np.ndarray | None]:
        net = MemoryNetwork()
        links = [LinkContext(r, n, net.backend(r), recv_timeout_s=10) for r in range(n)]
        await asyncio.gather(*(link.start() for link in links))
        return list(await asyncio.gather(*(party(link) for link in links)))

    got = asyncio.run(go())
    assert all(g is None for r, g in enumerate(got) if r != label_rank)
    total = got[label_rank]
    assert total is not None
    assert np.allclose(total.reshape(-1), np.sum(partials, axis=0), atol=1e-4)
    for rank in range(n):
        if rank != label_rank and n > 2:  # what the owner receives is not the partial
            assert not np.allclose(seen[rank], partials[rank], atol=1.0)
