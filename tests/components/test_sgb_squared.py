"""SGB regression (``objective=squared``) Isthmus<->Isthmus in one process: our active
and passive parties over an in-memory link train, then ``sgb_predict``'s two halves
score the same rows. The scores must be the plaintext booster's margins
(``tests/components/sgb_reference.py``, objective ``linear``: g = margin - y, h = 1) on
the same buckets, up to the fixed point's 2⁻²⁰, and the error must shrink with the
rounds (the model learns)."""

from __future__ import annotations

import asyncio

import numpy as np
from numpy.typing import NDArray

from isthmus.components.builtin.sgb.active import train_active
from isthmus.components.builtin.sgb.bucketing import bucketize
from isthmus.components.builtin.sgb.passive import train_passive
from isthmus.components.builtin.sgb.predict_active import predict_active
from isthmus.components.builtin.sgb.predict_passive import predict_passive
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.link import LinkContext, MemoryNetwork
from tests.components import sgb_reference as ref

SETTINGS = SgbSettings(
    num_round=3, max_depth=3, bucket_eps=0.1, key_bits=1024, allow_insecure_key_size=True,
    objective="squared",
)  # fmt: skip


async def train_and_score(
    x0: NDArray[np.float64], y: NDArray[np.float64], x1: NDArray[np.float64]
) -> NDArray[np.float64]:
    network = MemoryNetwork()
    links = [LinkContext(r, 2, network.backend(r), recv_timeout_s=60) for r in range(2)]
    await asyncio.gather(*(link.start(5) for link in links))
    try:
        (model, _), passive = await asyncio.gather(
            train_active(links[0], x0, ["a0", "a1"], y, SETTINGS, after="none", workers=1),
            train_passive(
                links[1], x1, ["b0", "b1"], after="none", allow_reveal=False,
                allow_insecure_key_size=True,
            ),
        )  # fmt: skip
        scores, _ = await asyncio.gather(
            predict_active(links[0], model, x0), predict_passive(links[1], passive, x1)
        )
    finally:
        for link in links:
            await link.backend.stop()
    return scores


def test_squared_loss_scores_are_the_plaintext_boosters_margins() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    y = 2.0 * x[:, 2] - 1.5 * x[:, 3] + 0.5 * x[:, 0] + rng.normal(scale=0.2, size=300)
    scores = asyncio.run(train_and_score(x[:, :2], y, x[:, 2:]))
    bucketing = bucketize(x, SETTINGS.bucket_eps)
    plain = ref.train(
        bucketing.bins, y, bucketing.bucket_num, objective="linear", num_round=3, max_depth=3
    )
    np.testing.assert_allclose(scores, plain.predict(bucketing.bins), atol=1e-4)
    assert np.mean((scores - y) ** 2) < 0.6 * np.mean(y**2)  # it learned something
