"""Completely-SGB Isthmus<->Isthmus in one process: our active party
(``train_active``) and our passive party (``train_passive``) over an in-memory link.

* On a small synthetic table the trees are the plaintext reference booster's with the
  first tree restricted to the label holder's columns, and the passive party owns no
  split of the first tree but does of the second.
* On the breast-cancer data of ``gen_sgb_data.py`` (1024 bits, 2 rounds, depth 3, row
  sampling 0.9, column sampling 0.5) the AUC and both parties' trees are exactly
  SecretFlow<->SecretFlow's (``sf_sgb.py --completely-sgb``, recorded below and in
  ``test_sgb_passive_secretflow.py``).
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from isthmus.components.builtin.evaluate.metrics import auc
from isthmus.components.builtin.sgb.active import train_active
from isthmus.components.builtin.sgb.active_model import ActiveModel
from isthmus.components.builtin.sgb.bucketing import bucketize
from isthmus.components.builtin.sgb.passive import train_passive
from isthmus.components.builtin.sgb.passive_model import PassiveModel
from isthmus.components.builtin.sgb.request import PassiveSupport
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext, MemoryNetwork
from tests.components import sgb_reference as ref
from tests.components.test_sgb_passive_secretflow import (
    SECRETFLOW_COMPLETELY_AUC,
    SECRETFLOW_COMPLETELY_TREES,
    tree_json,
)
from tests.support.shared import shared_path

#: SecretFlow's active party's trees in the run of SECRETFLOW_COMPLETELY_AUC
#: (model_rank0.json): per split node (0..6) its own feature and threshold, None for
#: the passive party's.
SECRETFLOW_ACTIVE_SPLITS: list[list[list[Any] | None]] = [
    [["f3", 700.6599999999999], ["f5", 0.12242], ["f13", 21.078000000000003],
     ["f13", 38.43], ["f2", 77.36], ["f14", 0.0048709999999999995], ["f4", 0.079654]],
    [None, None, ["f6", 0.086212], ["f10", 0.7488799999999999], ["f4", 0.09587], None,
     ["f10", 0.18308]],
]  # fmt: skip


async def run_pair(
    x0: NDArray[np.float64],
    names0: list[str],
    y: NDArray[np.float64],
    x1: NDArray[np.float64],
    names1: list[str],
    settings: SgbSettings,
    support: PassiveSupport | None = None,
) -> tuple[ActiveModel, Any, PassiveModel]:
    network = MemoryNetwork()
    links = [LinkContext(r, 2, network.backend(r), recv_timeout_s=60) for r in range(2)]
    await asyncio.gather(*(link.start(5) for link in links))
    try:
        (model, report), passive = await asyncio.gather(
            train_active(links[0], x0, names0, y, settings, after="predict", workers=1),
            train_passive(
                links[1], x1, names1, after="predict", allow_reveal=False, support=support,
                allow_insecure_key_size=True,
            ),
        )  # fmt: skip
    finally:
        for link in links:
            await link.backend.stop()
    return model, report, passive


SMALL = SgbSettings(
    num_round=2, max_depth=2, bucket_eps=0.25, key_bits=1024, allow_insecure_key_size=True,
    use_completely_sgb=True,
)  # fmt: skip


def small_data() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(80, 6))
    # the passive party's columns carry most of the signal: a normal first tree would
    # split on them
    y = (x @ [0.3, 0.2, 0.1, 2.0, -1.5, 1.0] + rng.normal(scale=0.3, size=80) > 0).astype(
        np.float64
    )
    return x[:, :3], x[:, 3:], y


def test_small_completely_sgb_is_the_plaintext_booster_with_a_label_holder_first_tree() -> None:
    x0, x1, y = small_data()
    model, report, passive = asyncio.run(
        run_pair(x0, ["a0", "a1", "a2"], y, x1, ["b0", "b1", "b2"], SMALL)
    )
    bins = bucketize(np.hstack([x0, x1]), SMALL.bucket_eps).bins
    plain = ref.train(bins, y, SMALL.bucket_num, num_round=2, max_depth=2, first_tree_columns=3)
    assert report.trees == 2 and len(passive.trees) == 2
    # the first tree: every split is ours, the passive party owns none
    assert all(split.owner == 0 for split in model.trees[0].splits.values())
    assert passive.trees[0].splits == ()
    assert passive.trees[1].splits, "the second tree uses the passive party's features"
    # the same split features as the reference (indices over both parties' columns)
    for tree, theirs, plain_tree in zip(model.trees, passive.trees, plain.trees, strict=True):
        assert sorted(tree.splits) == sorted(plain_tree.splits)
        passive_splits = theirs.split_by_node()
        for node, split in tree.splits.items():
            feature = plain_tree.splits[node][0]
            if split.owner == 0:
                assert split.feature == f"a{feature}"
            else:
                passive_split = passive_splits[node]
                assert passive_split is not None and 3 + passive_split.feature == feature
    assert report.auc == pytest.approx(auc(y.astype(bool), plain.predict(bins)), abs=1e-6)


def test_a_passive_party_claiming_no_completely_sgb_makes_the_active_refuse() -> None:
    x0, x1, y = small_data()
    with pytest.raises(AlgorithmError, match="negotiate completely_sgb failed"):
        asyncio.run(
            run_pair(
                x0, ["a0", "a1", "a2"], y, x1, ["b0", "b1", "b2"], SMALL,
                PassiveSupport(completely_sgb=False),
            )
        )  # fmt: skip


def read_party(path: Path) -> tuple[list[str], NDArray[np.float64], NDArray[np.float64] | None]:
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    label = header.index("y") if "y" in header else None
    columns = [i for i in range(1, len(header)) if i != label]
    x = np.array([[float(r[i]) for i in columns] for r in body], dtype=np.float64)
    y = None if label is None else np.array([float(r[label]) for r in body])
    return [header[i] for i in columns], x, y


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sgb-data")
    subprocess.run(
        [sys.executable, str(shared_path("peers", "gen_sgb_data.py")), "--out-dir", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder


def test_breast_cancer_completely_sgb_is_secretflows(data: Path) -> None:
    names0, x0, y = read_party(data / "party0.csv")
    names1, x1, _ = read_party(data / "party1.csv")
    assert y is not None
    settings = SgbSettings(
        num_round=2, max_depth=3, bucket_eps=0.1, key_bits=1024, allow_insecure_key_size=True,
        row_sample_by_tree=0.9, col_sample_by_tree=0.5, use_completely_sgb=True,
    )  # fmt: skip
    model, report, passive = asyncio.run(run_pair(x0, names0, y, x1, names1, settings))
    assert round(report.auc, 6) == SECRETFLOW_COMPLETELY_AUC
    assert [tree_json(tree) for tree in passive.trees] == SECRETFLOW_COMPLETELY_TREES
    assert [active_splits(tree) for tree in model.trees] == SECRETFLOW_ACTIVE_SPLITS


def active_splits(tree: Any) -> list[list[Any] | None]:
    return [
        None if split.owner else [split.feature, split.threshold]
        for split in (tree.splits[node] for node in sorted(tree.splits))
    ]
