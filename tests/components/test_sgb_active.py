"""The SGB active party in one process: against a minimal passive party written here
from docs/protocol.md §13 (it sums the encrypted gradients homomorphically as a
SecretFlow passive party does), with 1, 2 passive parties; the split rule against the
plaintext reference booster; the handshake decisions; settings and model validation;
and bad input from a partner or from the local table, each a clear error."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from isthmus.components.builtin.evaluate.metrics import auc
from isthmus.components.builtin.sgb import negotiate as ng
from isthmus.components.builtin.sgb.active import (
    cumulative_sums,
    find_best_splits,
    leaf_weight,
    train_active,
)
from isthmus.components.builtin.sgb.active_model import ActiveModel
from isthmus.components.builtin.sgb.bucketing import bucketize
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.crypto.phe import PaillierPublicKey
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire.exchange import ScalarType, pack_array_list, pack_list, pack_scalar, unpack
from isthmus.wire.exchange_he import (
    pack_paillier_ciphertexts,
    unpack_paillier_ciphertexts,
    unpack_paillier_public_key,
)
from isthmus.wire.proto import handshake_pb2, phe_pb2
from isthmus.wire.proto import sgb_handshake_pb2 as sgb_pb2
from tests.components import sgb_reference as ref

# --- a minimal passive party --------------------------------------------------------


def handshake_request(
    *,
    completely: bool = True,
    row: bool = True,
    col: bool = True,
    keys: tuple[int, ...] = (1024, 2048, 3072),
) -> bytes:
    request = handshake_pb2.HandshakeRequest(version=2, supported_algos=[ng.SGB])
    request.algo_params.add().Pack(
        sgb_pb2.SgbParamsProposal(
            supported_versions=[1], support_completely_sgb=completely,
            support_row_sample_by_tree=row, support_col_sample_by_tree=col,
        )
    )  # fmt: skip
    phe = phe_pb2.PheProtocolProposal(supported_versions=[1], supported_phe_algos=[ng.PAILLIER])
    phe.supported_phe_params.add().Pack(phe_pb2.PaillierParamsProposal(key_sizes=list(keys)))
    request.protocol_families.append(ng.PHE)
    request.protocol_family_params.add().Pack(phe)
    return request.SerializeToString()


@dataclass
class Passive:
    """Follows the wire of docs/protocol.md §13 as a passive party; ``corrupt`` names a
    value it gets wrong on purpose."""

    link: LinkContext
    x: NDArray[np.float64]
    after: str = "none"
    corrupt: str = ""
    request: bytes = field(default_factory=handshake_request)
    splits: list[dict[int, tuple[int, int]]] = field(default_factory=list)
    leaves: list[list[int]] = field(default_factory=list)
    #: where this party's buckets start in the global numbering (set by the test)
    offset: int = 0

    async def value(self) -> Any:
        return unpack(await self.link.recv(0)).value

    async def run(self) -> None:
        await self.link.send(0, self.request)
        response = handshake_pb2.HandshakeResponse.FromString(await self.link.recv(0))
        if response.header.error_code:
            return
        params = sgb_pb2.SgbParamsResult()
        response.algo_param.Unpack(params)
        key = unpack_paillier_public_key(await self.link.recv(0))
        pk = PaillierPublicKey(key.n, key.hs)
        await self.value()  # the active party's [rows, features]
        await self.link.send(0, pack_list([self.x.shape[0], self.x.shape[1]]))
        buckets = bucketize(self.x, params.bucket_eps)
        bnum, rows = buckets.bucket_num, self.x.shape[0]
        for tree in range(params.num_round):
            own_only = params.use_completely_sgb and tree == 0
            count = self.x.shape[1] * bnum
            await self.link.send(0, pack_scalar(count))
            await self.value()
            if params.row_sample_by_tree < 1:
                choices = np.asarray(await self.value(), dtype=np.int64)
            else:
                choices = np.arange(rows)
                if tree == 0:
                    await self.value()
            bins = buckets.bins[choices]
            n = choices.size
            gh: Any = None
            parents: list[Any] = []
            splits: dict[int, tuple[int, int]] = {}
            for level in range(params.max_depth):
                is_lefts = list(await self.value())
                if not own_only:
                    chosen = [np.unpackbits(b, count=n).astype(bool) for b in await self.value()]
                    if level == 0:
                        gh = unpack_paillier_ciphertexts(await self.link.recv(0), key)
                    sums = [self.sums(pk, bins, gh, c, bnum) for c in chosen]
                    level_sums: list[Any] = []
                    for i, s in enumerate(sums):
                        if level == 0:
                            level_sums.append(s)
                            continue
                        sibling = np.vectorize(pk.sub, otypes=[object])(parents[i], s)
                        level_sums += [s, sibling] if is_lefts[i] else [sibling, s]
                    for node_sums in level_sums:
                        wrong = self.corrupt == "sums-shape"
                        sent = node_sums[:-1] if wrong else node_sums
                        await self.link.send(0, pack_paillier_ciphertexts(sent))
                should = list(await self.value())
                best = list(await self.value())
                nodes = [0] if level == 0 else [int(v) for v in await self.value()]
                bitmaps = []
                for i, node in enumerate(nodes):
                    if not should[i]:
                        continue
                    local = int(best[i]) - self.offset
                    if 0 <= local < count:
                        f, k = divmod(local, bnum)
                        splits[node] = (f, k)
                        bitmaps.append(np.packbits((bins[:, f] <= k).astype(np.uint8)))
                    else:
                        bitmaps.append(np.zeros(0, dtype=np.uint8))
                if self.corrupt == "bitmaps-count":
                    bitmaps.append(np.zeros(0, dtype=np.uint8))
                await self.link.send(0, pack_array_list(bitmaps, ScalarUINT8))
                if not own_only:
                    parents = [level_sums[i] for i in range(len(nodes)) if should[i]]
                if await self.value():
                    break
            leaves = [int(v) for v in await self.value()]
            self.splits.append(splits)
            if await self.value():
                return
            if tree + 1 < params.num_round:
                await self.send_leaf_selects(buckets.bins, splits, leaves)
            self.leaves.append(leaves)
        if self.after in ("predict", "reveal"):
            await self.value()
            await self.link.send(0, pack_list([rows, self.x.shape[1]]))
            for splits, leaves in zip(self.splits, self.leaves, strict=True):
                await self.send_leaf_selects(buckets.bins, splits, leaves)

    @staticmethod
    def sums(pk: PaillierPublicKey, bins: Any, gh: Any, select: Any, bnum: int) -> Any:
        out = np.empty((bins.shape[1] * bnum, 2), dtype=object)
        for f in range(bins.shape[1]):
            for k in range(bnum):
                rows = np.flatnonzero(select & (bins[:, f] <= k))
                for j in range(2):
                    out[f * bnum + k, j] = pk.sum(gh[r, j] for r in rows)
        return out

    async def send_leaf_selects(
        self, bins: Any, splits: dict[int, tuple[int, int]], leaves: list[int]
    ) -> None:
        select = np.ones((bins.shape[0], len(leaves)), dtype=bool)
        for j, leaf in enumerate(leaves):
            node = leaf
            while node > 0:
                parent = (node - 1) // 2
                if parent in splits:
                    f, k = splits[parent]
                    left = bins[:, f] <= k
                    select[:, j] &= left if node % 2 else ~left
                node = parent
        await self.link.send(0, pack_array_list([np.packbits(r) for r in select.astype(np.uint8)]))


ScalarUINT8 = ScalarType.UINT8


# --- in-process runs ------------------------------------------------------------------

ROWS, WIDTH = 80, 3


def dataset(parties: int, seed: int = 7) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, WIDTH * parties))
    margin = x @ rng.normal(size=WIDTH * parties)
    y = (margin + rng.normal(scale=0.5, size=ROWS) > 0).astype(np.float64)
    return [x[:, WIDTH * p : WIDTH * (p + 1)] for p in range(parties)], y


SETTINGS = SgbSettings(
    num_round=2, max_depth=2, bucket_eps=0.25, key_bits=1024, allow_insecure_key_size=True
)


async def run(
    parties: int,
    settings: SgbSettings = SETTINGS,
    after: str = "predict",
    corrupt: str = "",
    request: bytes | None = None,
) -> tuple[ActiveModel, Any, list[Passive]]:
    blocks, y = dataset(parties)
    network = MemoryNetwork()
    links = [LinkContext(r, parties, network.backend(r), recv_timeout_s=20) for r in range(parties)]
    await asyncio.gather(*(link.start(5) for link in links))
    bnum = settings.bucket_num
    passives = [
        Passive(links[r], blocks[r], after, corrupt if r == 1 else "",
                request or handshake_request(), offset=r * WIDTH * bnum)
        for r in range(1, parties)
    ]  # fmt: skip
    names = [f"a{j}" for j in range(WIDTH)]
    try:
        result, *_ = await asyncio.gather(
            train_active(links[0], blocks[0], names, y, settings, after=after, workers=1),
            *(p.run() for p in passives),
        )
    finally:
        for link in links:
            await link.backend.stop()
    model, report = result
    return model, report, passives


@pytest.mark.parametrize("parties", [2, 3])
def test_trains_with_any_number_of_passive_parties_as_well_as_plaintext(parties: int) -> None:
    """Same AUC as the plaintext booster over everyone's features (within 0.01), with
    splits owned by more than one party."""
    model, report, _ = asyncio.run(run(parties))
    blocks, y = dataset(parties)
    everything = np.hstack(blocks)
    bins = bucketize(everything, SETTINGS.bucket_eps).bins
    plain = ref.train(bins, y, SETTINGS.bucket_num, num_round=2, max_depth=2)
    assert report.trees == 2 and model.world_size == parties
    assert report.auc == pytest.approx(auc(y.astype(bool), plain.predict(bins)), abs=0.01)
    owners = {s.owner for t in model.trees for s in t.splits.values()}
    assert owners <= set(range(parties)) and len(owners) > 1


def test_model_saved_and_loaded_predicts_the_same(tmp_path: Path) -> None:
    model, _, _ = asyncio.run(run(2))
    model.save(tmp_path / "m.json")
    loaded = ActiveModel.load(tmp_path / "m.json")
    assert loaded == model
    text = (tmp_path / "m.json").read_text()
    for tree in json.loads(text)["trees"]:
        for split in tree["splits"]:  # a passive party's split point is never kept
            assert (split["feature"] is None) == (split["owner"] != 0)


def test_completely_sgb_first_tree_uses_only_our_features() -> None:
    settings = SgbSettings(**{**SETTINGS.__dict__, "use_completely_sgb": True})
    model, _, passives = asyncio.run(run(2, settings))
    assert all(s.owner == 0 for s in model.trees[0].splits.values())
    assert passives[0].splits[0] == {}


def test_refused_handshake_stops_both_sides() -> None:
    request = handshake_request(keys=(2048, 3072))
    with pytest.raises(ng.HandshakeRefused, match="paillier"):
        asyncio.run(run(2, request=request))


@pytest.mark.parametrize(
    ("corrupt", "field"),
    [("sums-shape", "bucket sums"), ("bitmaps-count", "left-child bitmaps")],
)
def test_a_partner_bad_value_is_an_error_naming_rank_and_field(corrupt: str, field: str) -> None:
    with pytest.raises(AlgorithmError, match=f"rank 1 sent a bad {field}"):
        asyncio.run(run(2, after="none", corrupt=corrupt))


def test_reveal_needs_the_explicit_parameter() -> None:
    with pytest.raises(ParameterError, match="allow_plaintext_label_reveal"):
        asyncio.run(run(2, after="reveal"))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0.5] * ROWS, "labels 0 or 1"),
        ([math.nan] * ROWS, "NaN"),
        ([1.0] * (ROWS - 1), "labels for"),
    ],
)
def test_bad_local_labels_are_refused_before_anything_is_sent(
    labels: list[float], message: str
) -> None:
    network = MemoryNetwork()
    link = LinkContext(0, 2, network.backend(0))
    x = np.zeros((ROWS, 1))
    with pytest.raises(AlgorithmError, match=message):
        asyncio.run(train_active(link, x, ["a"], labels, SETTINGS))
    assert network.sent == []


# --- the split rule against the plaintext reference ------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    reg_lambda=st.sampled_from([0.3, 1.0, 5.0]),
    rows=st.integers(4, 60),
)
def test_best_split_is_a_best_split_of_the_reference(
    seed: int, reg_lambda: float, rows: int
) -> None:
    rng = np.random.default_rng(seed)
    bnum, width = 6, 3
    bins = rng.integers(0, bnum, size=(rows, width)).astype(np.uint8)
    g = rng.normal(size=rows)
    h = rng.uniform(0.05, 0.25, size=rows)
    gl, hl = cumulative_sums(bins, g, bnum), cumulative_sums(bins, h, bnum)
    best, split = find_best_splits([gl], [hl], reg_lambda, 0.0)
    _, _, ref_gain = ref.best_split(bins, g, h, bnum, reg_lambda, 0.0)
    f, k = divmod(int(best[0]), bnum)
    left = bins[:, f] <= k
    gain = ref.split_gain(
        g[left].sum(), h[left].sum(), g[~left].sum(), h[~left].sum(), reg_lambda, 0
    )
    assert float(gain) == pytest.approx(ref_gain, rel=1e-9, abs=1e-9)
    assert bool(split[0])


def test_gamma_prunes_as_secretflow_does() -> None:
    g = [np.array([1.0, 1.0])]
    h = [np.array([1.0, 2.0])]  # every split sends all rows left: gain 0 everywhere
    assert not find_best_splits(g, h, 1.0, 0.5)[1][0]
    assert find_best_splits(g, h, 1.0, 0.0)[1][0]  # gamma 0 always splits


@given(g=st.floats(-1e3, 1e3), h=st.floats(0, 1e3), lam=st.floats(0, 10), lr=st.floats(0.01, 1))
def test_leaf_weight_is_the_reference(g: float, h: float, lam: float, lr: float) -> None:
    assert leaf_weight(g, h, lam, lr) == pytest.approx(ref.leaf_weight(g, h, lam, lr), nan_ok=True)


# --- the handshake decisions -------------------------------------------------------------


def proposal(**kw: Any) -> ng.Proposal:
    return ng.read_request(handshake_request(**kw), 1)


def test_negotiation_follows_secretflow() -> None:
    base = SgbSettings(row_sample_by_tree=0.9, col_sample_by_tree=0.8, key_bits=2048)
    decided, problem = ng.decide(base, [proposal(), proposal(row=False)])
    assert problem is None
    assert (decided.row_sample_by_tree, decided.col_sample_by_tree) == (1.0, 0.8)
    completely = SgbSettings(use_completely_sgb=True)
    assert (
        ng.decide(completely, [proposal(completely=False)])[1] == "negotiate completely_sgb failed"
    )
    assert ng.decide(base, [proposal(keys=(3072,))])[1] == "negotiate paillier params failed"
    assert ng.decide(base, [ng.Proposal(None, frozenset({2048}))])[1] == "negotiate sgb algo failed"


def test_response_carries_the_decision() -> None:
    response = ng.build_response(SgbSettings(num_round=3, max_depth=4, bucket_eps=0.08))
    result = sgb_pb2.SgbParamsResult()
    assert response.algo_param.Unpack(result)
    assert (result.num_round, result.max_depth, result.bucket_eps) == (3, 4, 0.08)
    assert ng.build_refusal("x").header.error_code == 31100200


# --- settings and model validation ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"num_round": 0}, "num_round"), ({"max_depth": 17}, "max_depth"),
        ({"row_sample_by_tree": 0.0}, "row_sample_by_tree"), ({"bucket_eps": 2.0}, "bucket_eps"),
        ({"key_bits": 1024}, "key_bits"), ({"key_bits": 4096}, "key_bits"),
        ({"objective": "hinge"}, "objective"), ({"reg_lambda": -1.0}, "reg_lambda"),
        ({"learning_rate": 0.0}, "learning_rate"), ({"gamma": math.inf}, "gamma"),
    ],
)  # fmt: skip
def test_settings_errors_name_the_parameter(change: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError) as raised:
        SgbSettings(**change)
    assert raised.value.name == name


def good_model() -> dict[str, Any]:
    return {
        "format": "isthmus.sgb.active", "version": 1, "objective": "logistic",
        "base_score": 0.0, "feature_names": ["a"], "world_size": 2,
        "trees": [{
            "splits": [{"node": 0, "owner": 0, "feature": "a", "threshold": 1.5},
                       {"node": 2, "owner": 1, "feature": None, "threshold": None}],
            "leaves": [1, 5, 6], "weights": [0.1, -0.2, 0.3],
        }],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("version",), 2, "version"),
        (("trees", 0, "splits", 1, "feature"), "b", "must not carry"),
        (("trees", 0, "splits", 0, "feature"), "zz", "unknown"),
        (("trees", 0, "splits", 1, "owner"), 2, "not a rank"),
        (("trees", 0, "leaves"), [1, 5], "weights"),
        (("trees", 0, "weights"), [0.1, -0.2, math.nan], "finite"),
        (("trees", 0, "leaves"), [1, 5, 7], "no split parent"),
    ],
)
def test_model_load_refuses_an_inconsistent_model(
    tmp_path: Path, path: tuple[Any, ...], value: Any, message: str
) -> None:
    data = good_model()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(AlgorithmError, match=message):
        ActiveModel.load(tmp_path / "m.json")


def test_good_model_loads_and_predicts_with_own_thresholds(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps(good_model()))
    model = ActiveModel.load(tmp_path / "m.json")
    select = model.trees[0].own_leaf_select(np.array([[1.0], [2.0]]), {"a": 0})
    assert select.tolist() == [[True, False, False], [False, True, True]]
