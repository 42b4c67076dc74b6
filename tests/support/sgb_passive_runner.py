"""Run Isthmus's SGB passive party as a plain process (``python -m
tests.support.sgb_passive_runner``), over the direct gRPC link or the blackbox link.

It drives ``train_passive`` with a ``LinkContext`` built as a component's ``ctx.link``
builds it, and prints one JSON line: ``{"ok", "seconds", "trees", "model", "error",
"revealed_auc"}``. Used by the SecretFlow-peer tests until the ``sgb`` component
registers the host role.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from isthmus.components.builtin.sgb.passive import train_passive
from isthmus.components.builtin.sgb.request import PassiveSupport
from isthmus.link import BlackboxBackend, DirectBackend, LinkBackend, LinkContext


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0][1:]
    return header, np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tie = scores == value
        ranks[tie] = ranks[tie].mean()
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


async def run(args: argparse.Namespace) -> dict[str, object]:
    names, features = read_csv(Path(args.data))
    backend: LinkBackend
    if args.env:
        backend, rank = BlackboxBackend.from_env(json.loads(Path(args.env).read_text()))
    else:
        rank = args.rank
        backend = DirectBackend(rank, args.addrs.split(","))
    link = LinkContext(rank, 2, backend, recv_timeout_s=args.timeout)
    support = PassiveSupport(
        completely_sgb="completely" in args.support,
        row_sample_by_tree="row" in args.support,
        col_sample_by_tree="col" in args.support,
    )
    start = time.perf_counter()
    await link.start(connect_timeout_s=args.timeout)
    try:
        model = await train_passive(
            link,
            features,
            names,
            after=args.after,
            allow_reveal=args.allow_reveal,
            support=support,
            allow_insecure_key_size=True,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await link.close(timeout_s=5)
        raise
    await link.close()
    seconds = time.perf_counter() - start
    model.save(args.model)
    auc = None
    if model.revealed is not None:
        auc = _auc(np.asarray(model.revealed.labels), np.asarray(model.revealed.predictions))
    return {"ok": True, "seconds": seconds, "trees": len(model.trees), "revealed_auc": auc}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rank", type=int, default=1)
    ap.add_argument("--addrs", default="")
    ap.add_argument("--env", default="", help="a JSON file of BFIA env (blackbox link)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--after", default="none")
    ap.add_argument("--allow-reveal", action="store_true")
    ap.add_argument(
        "--support", default="completely,row,col", help="what we claim (PassiveSupport)"
    )
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    try:
        report = asyncio.run(run(args))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
