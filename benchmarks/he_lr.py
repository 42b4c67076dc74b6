"""Cost of HE-LR training (2 parties over the in-memory link, Paillier ``--key-bits``),
beside the same SGD in the clear and scikit-learn's LogisticRegression (``C = 1/(n*l2)``)
on the same standardised split as the plaintext anchor.

    .venv/bin/python benchmarks/he_lr.py --key-bits 2048 --epochs 5

``--rows`` up to 569 takes the first rows of scikit-learn's breast cancer table (30
features, split 15/15 as ``gen_sgb_data.py`` does); more rows use ``make_classification``
with 30 features. Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from isthmus.components.builtin.he_lr import protocol
from isthmus.components.builtin.he_lr.handshake import Offer, negotiate
from isthmus.link import LinkContext, MemoryNetwork


def data(rows: int) -> tuple[Any, Any]:
    if rows <= 569:
        bunch = load_breast_cancer()
        return bunch["data"][:rows], bunch["target"][:rows].astype(float)
    x, y = make_classification(n_samples=rows, n_features=30, n_informative=15, random_state=42)
    return x, y.astype(float)


async def train(
    xs: list[Any], y: Any, hyper: protocol.Hyper, key_bits: int, workers: int
) -> list[protocol.TrainResult]:
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=3600) for r in range(2)]
    await asyncio.gather(*(link.start() for link in links))
    insecure = key_bits < 2048
    sizes = (key_bits,)

    async def guest() -> protocol.TrainResult:
        offer = Offer("train", len(y), xs[0].shape[1], sizes, hyper.as_dict(), key_bits)
        agreed = await negotiate(links[0], offer)
        return await protocol.train_guest(
            links[0],
            xs[0],
            y,
            hyper,
            key_bits=key_bits,
            allow_insecure=insecure,
            seed=7,
            workers=workers,
            feature_nums=agreed.feature_nums,
        )

    async def host() -> protocol.TrainResult:
        await negotiate(links[1], Offer("train", len(y), xs[1].shape[1], sizes))
        return await protocol.train_host(
            links[1], xs[1], hyper, key_bits=key_bits, allow_insecure=insecure, workers=workers
        )

    results = list(await asyncio.gather(guest(), host()))
    await asyncio.gather(*(link.close() for link in links))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=569)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    x, y = data(args.rows)
    order = np.random.default_rng(2024).permutation(len(y))
    cut = int(len(y) * 0.75)
    train_rows, test_rows = np.sort(order[:cut]), np.sort(order[cut:])
    mean, std = x[train_rows].mean(axis=0), x[train_rows].std(axis=0)
    xs_all = (x - mean) / std
    half = xs_all.shape[1] // 2
    hyper = protocol.Hyper(args.learning_rate, args.epochs, args.batch_size, args.l2, 0.0)

    started = time.perf_counter()
    results = asyncio.run(
        train(
            [xs_all[train_rows, :half], xs_all[train_rows, half:]],
            y[train_rows],
            hyper,
            args.key_bits,
            args.workers,
        )
    )
    he_s = time.perf_counter() - started
    w = np.concatenate([r.weights for r in results])
    auc_he = roc_auc_score(y[test_rows], xs_all[test_rows] @ w + results[0].intercept)

    started = time.perf_counter()
    w_sgd, b_sgd, _ = protocol.reference_sgd(xs_all[train_rows], y[train_rows], hyper, 7)
    sgd_s = time.perf_counter() - started
    auc_sgd = roc_auc_score(y[test_rows], xs_all[test_rows] @ w_sgd + b_sgd)

    started = time.perf_counter()
    model = LogisticRegression(C=1 / (len(train_rows) * args.l2), max_iter=1000)
    model.fit(xs_all[train_rows], y[train_rows])
    sk_s = time.perf_counter() - started
    auc_sk = roc_auc_score(y[test_rows], model.decision_function(xs_all[test_rows]))
    print(
        json.dumps(
            {
                "rows": len(y),
                "train_rows": len(train_rows),
                "features": x.shape[1],
                "parties": 2,
                "key_bits": args.key_bits,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "workers": args.workers,
                "he_lr_s": round(he_s, 3),
                "plain_sgd_s": round(sgd_s, 4),
                "sklearn_s": round(sk_s, 4),
                "he_lr_over_sklearn_time": round(he_s / sk_s, 1),
                "auc_he_lr": round(auc_he, 6),
                "auc_plain_sgd": round(auc_sgd, 6),
                "auc_sklearn": round(auc_sk, 6),
                "auc_gap_to_sklearn": round(auc_sk - auc_he, 6),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
