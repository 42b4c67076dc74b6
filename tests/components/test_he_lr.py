"""HE-LR between Isthmus parties over the in-memory link: 2 and 3 parties on the breast
cancer data of ``gen_sgb_data.py``, against plain SGD with the same batches (the fair
comparison: the same algorithm in the clear) and scikit-learn's LogisticRegression with
``C = 1 / (n * l2)`` (the same regularised objective, solved to convergence)."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from isthmus.components.builtin.he_lr import protocol
from isthmus.components.builtin.he_lr.component import ids_digest
from isthmus.components.builtin.he_lr.handshake import Offer, negotiate
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext, MemoryNetwork
from tests.support.shared import shared_root

GEN = shared_root() / "peers" / "gen_sgb_data.py"
HYPER = protocol.Hyper(learning_rate=0.1, epochs=8, batch_size=64, l2=0.01, tol=0.0)
SEED = 7


def generate(tmp: Path, parties: int) -> list[dict[str, Any]]:
    """Each party's columns of the breast-cancer table (rows aligned)."""
    done = subprocess.run(
        [sys.executable, str(GEN), "--out-dir", str(tmp), "--parties", str(parties)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["rows"] == 569
    tables = []
    for rank in range(parties):
        with (tmp / f"party{rank}.csv").open() as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        features = [i for i, c in enumerate(header) if c.startswith("f")]
        x = np.array([[float(r[i]) for i in features] for r in body])
        y = np.array([float(r[1]) for r in body]) if rank == 0 else None
        tables.append({"x": x, "y": y})
    return tables


def split(rows: int) -> tuple[Any, Any]:
    order = np.random.default_rng(2024).permutation(rows)
    cut = int(rows * 0.75)
    return np.sort(order[:cut]), np.sort(order[cut:])


def standardised(x: Any, train: Any, test: Any) -> tuple[Any, Any]:
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    return (x[train] - mean) / std, (x[test] - mean) / std


async def run_parties(
    xs: list[Any], y: Any, key_bits: int = 1024
) -> tuple[list[protocol.TrainResult], list[Any]]:
    """Train over the in-memory link, then score the same matrices' test parts."""
    n = len(xs)
    net = MemoryNetwork()
    links = [LinkContext(r, n, net.backend(r), recv_timeout_s=60) for r in range(n)]
    await asyncio.gather(*(link.start() for link in links))

    async def party(rank: int) -> protocol.TrainResult:
        link = links[rank]
        offer = Offer(
            "train", len(xs[rank][0]), xs[rank][0].shape[1], (1024, 2048), HYPER.as_dict(), key_bits
        )
        agreed = await negotiate(link, offer)
        if rank == 0:
            return await protocol.train_guest(
                link,
                xs[0][0],
                y,
                HYPER,
                key_bits=key_bits,
                allow_insecure=True,
                seed=SEED,
                workers=1,
                feature_nums=agreed.feature_nums,
            )
        return await protocol.train_host(  # rank 2 spreads its columns over 2 processes
            link,
            xs[rank][0],
            HYPER,
            key_bits=key_bits,
            allow_insecure=True,
            workers=2 if rank == 2 else 1,
        )

    results = list(await asyncio.gather(*(party(r) for r in range(n))))

    async def predict(rank: int) -> Any:
        x_test = xs[rank][1]
        scores = x_test @ results[rank].weights
        if rank == 0:
            return await protocol.predict_guest(links[0], scores + results[0].intercept)
        await protocol.predict_host(links[rank], scores)
        return None

    predictions = list(await asyncio.gather(*(predict(r) for r in range(n))))
    await asyncio.gather(*(link.close() for link in links))
    return results, predictions


@pytest.mark.parametrize("parties", [2, 3])
def test_he_lr_matches_plain_sgd_and_scikit_learn(tmp_path: Path, parties: int) -> None:
    tables = generate(tmp_path, parties)
    y = tables[0]["y"]
    train, test = split(len(y))
    xs = [standardised(t["x"], train, test) for t in tables]
    results, predictions = asyncio.run(run_parties(xs, y[train]))
    auc_he = roc_auc_score(y[test], predictions[0])

    # the same algorithm in the clear, same batches: weights agree to fixed-point noise
    x_train = np.hstack([x[0] for x in xs])
    x_test = np.hstack([x[1] for x in xs])
    w, b, losses = protocol.reference_sgd(x_train, y[train], HYPER, SEED)
    he_w = np.concatenate([r.weights for r in results])
    assert np.allclose(he_w, w, atol=1e-4), np.max(np.abs(he_w - w))
    assert results[0].intercept == pytest.approx(b, abs=1e-4)
    assert results[0].losses == pytest.approx(losses, abs=1e-5)
    auc_sgd = roc_auc_score(y[test], protocol.sigmoid(x_test @ w + b))
    assert abs(auc_he - auc_sgd) < 1e-3

    # scikit-learn's plaintext LR on the same split and the same L2 objective
    sk = LogisticRegression(C=1 / (len(train) * HYPER.l2), max_iter=1000).fit(x_train, y[train])
    auc_sk = roc_auc_score(y[test], sk.predict_proba(x_test)[:, 1])
    assert abs(auc_he - auc_sk) <= 0.01, (auc_he, auc_sk)
    # each party holds only its own weights
    assert [len(r.weights) for r in results] == [x[0].shape[1] for x in xs]


def test_rows_that_do_not_align_are_refused_in_the_handshake() -> None:
    async def main() -> list[object]:
        net = MemoryNetwork()
        links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=10) for r in range(2)]
        await asyncio.gather(*(link.start() for link in links))
        offers = [
            Offer("train", 100, 3, (1024,), HYPER.as_dict(), 1024),
            Offer("train", 99, 2, (1024,)),
        ]
        return list(
            await asyncio.gather(
                *(negotiate(links[r], offers[r]) for r in range(2)), return_exceptions=True
            )
        )

    errors = asyncio.run(main())
    assert all(isinstance(e, AlgorithmError) for e in errors)
    assert all("sample_size" in str(e) for e in errors), errors


def test_a_key_size_the_host_refuses_is_refused_naming_key_bits() -> None:
    async def main() -> list[object]:
        net = MemoryNetwork()
        links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=10) for r in range(2)]
        await asyncio.gather(*(link.start() for link in links))
        offers = [
            Offer("train", 10, 3, (1024,), HYPER.as_dict(), 1024),
            Offer("train", 10, 2, (2048, 3072)),
        ]
        return list(
            await asyncio.gather(
                *(negotiate(links[r], offers[r]) for r in range(2)), return_exceptions=True
            )
        )

    errors = asyncio.run(main())
    assert all(isinstance(e, AlgorithmError) and "key_bits" in str(e) for e in errors), errors


def test_early_stop_on_loss_ends_every_party_after_the_same_epoch() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=40) > 0).astype(float)
    hyper = protocol.Hyper(learning_rate=0.5, epochs=50, batch_size=16, l2=0.0, tol=0.02)

    async def main() -> list[protocol.TrainResult]:
        net = MemoryNetwork()
        links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=30) for r in range(2)]
        await asyncio.gather(*(link.start() for link in links))
        # the host asks for other hyper-parameters: rank 0's win
        other = protocol.Hyper(learning_rate=9.0, epochs=1, batch_size=3, l2=1.0, tol=0.0)

        async def party(rank: int) -> protocol.TrainResult:
            own = hyper if rank == 0 else other
            offer = Offer("train", 40, 2 if rank == 0 else 1, (1024,), own.as_dict(), 1024)
            agreed = protocol.Hyper.from_dict((await negotiate(links[rank], offer)).hyper)
            if rank == 0:
                return await protocol.train_guest(
                    links[0],
                    x[:, :2],
                    y,
                    agreed,
                    key_bits=1024,
                    allow_insecure=True,
                    seed=3,
                    workers=1,
                )
            return await protocol.train_host(
                links[1], x[:, 2:], agreed, key_bits=1024, allow_insecure=True
            )

        return list(await asyncio.gather(party(0), party(1)))

    guest, host = asyncio.run(main())
    w, _, losses = protocol.reference_sgd(x, y, hyper, 3)
    assert 2 <= guest.epochs_run < hyper.epochs
    assert guest.epochs_run == host.epochs_run == len(losses)
    assert np.allclose(np.concatenate([guest.weights, host.weights]), w, atol=1e-4)


def test_rows_in_another_order_are_refused_naming_ids_sha256() -> None:
    async def main() -> list[object]:
        net = MemoryNetwork()
        links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=10) for r in range(2)]
        await asyncio.gather(*(link.start() for link in links))
        offers = [
            Offer("predict", 3, 2, hyper={}, ids_sha256=ids_digest(["a", "b", "c"])),
            Offer("predict", 3, 1, ids_sha256=ids_digest(["a", "c", "b"])),
        ]
        return list(
            await asyncio.gather(
                *(negotiate(links[r], offers[r]) for r in range(2)), return_exceptions=True
            )
        )

    errors = asyncio.run(main())
    assert all(isinstance(e, AlgorithmError) and "ids_sha256" in str(e) for e in errors), errors
