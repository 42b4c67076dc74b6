"""The ``ss_lr`` (training) and ``ss_lr_predict`` components (docs/protocol.md §18).

Any party may hold the label (``label_owner``); the others hold features; rows are
aligned by id order. Training runs the PPCA SS-LR algorithm (``train``) on the semi2k
engine; afterwards each party writes its share of ``w`` (one float per line, the
digest's output) and a ``model`` in which only what ``reveal_weights_to`` allows is in
the clear: ``own`` (default) - each party learns the weights of its own features, the
label owner also the bias; ``all`` - every party learns every weight. Prediction needs
only each party's own weights: every party computes its partial scores locally, they are
shared, masked by a zero-sharing among the feature holders (so with three or more
parties the label owner learns only the sum, never one party's partial score) and
revealed to the label owner alone, who writes ``id,score[,label]``.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import numpy as np

from isthmus.components.builtin.ss_lr import data, handshake, params, triples
from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.components.builtin.ss_lr.train import train
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import LINK_PARAMS, Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows, write_csv
from isthmus.link import LinkContext
from isthmus.mpc.engine import Semi2k, Shared
from isthmus.mpc.ring import Ring

MODEL_FORMAT = "isthmus.ss_lr.v1"

TRAIN_SPEC = ComponentSpec(
    name="ss_lr",
    provider="isthmus",
    version="0.1.0",
    title="SS logistic regression",
    description="Vertical logistic regression on secret shares (PPCA SS-LR: semi2k, "
    "fixed point, Beaver triples from a TTP or dealer-free Paillier; docs/protocol.md §18).",
    roles=("guest", "host"),
    params=params.TRAIN_PARAMS,
    inputs=(DataSlot("train_data", "dataset", ("csv",), "the party's aligned rows"),),
    outputs=(
        DataSlot("model", "model", ("json",), "the weights this party may know"),
        DataSlot("weights_share", "model", ("txt",), "this party's share of w, one per line"),
    ),
    results=(("0", "success"),),
)

PREDICT_SPEC = ComponentSpec(
    name="ss_lr_predict",
    provider="isthmus",
    version="0.1.0",
    title="SS logistic regression: prediction",
    description="Scores rows with an ss_lr model: partial scores are secret-shared and "
    "revealed, summed, to the label owner only, who writes id,score (and the label).",
    roles=("guest", "host"),
    params=LINK_PARAMS,
    inputs=(
        DataSlot("model", "model", ("json",), "this party's ss_lr model"),
        DataSlot("test_data", "dataset", ("csv",), "the party's aligned rows to score"),
    ),
    outputs=(DataSlot("result", "dataset", ("csv",), "label owner: id,score[,label]"),),
    results=(("0", "success"),),
)


def _write(ctx: RunContext, slot: str, text: str, count: int, file_type: str) -> None:
    target = ctx.output(slot)
    with ctx.storage.writer(target) as out:
        out.write(text.encode())
    ctx.storage.write_meta(
        target,
        TableMeta(name=target.name, namespace=target.namespace, count=count, file_type=file_type),
    )


def _slices(plan: TrainPlan) -> list[tuple[int, int]]:
    bounds = np.cumsum([0, *plan.feature_nums])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


async def reveal_model(
    engine: Semi2k, w: Shared, plan: TrainPlan, policy: params.RevealPolicy
) -> tuple[list[float] | None, list[float], float | None]:
    """(every weight if ``all``; this party's feature weights; the bias if it may know
    it), by revealing only those slices of ``w`` to their parties."""
    if policy == "all":
        full = await engine.reveal(w)
        assert full is not None
        flat = [float(v) for v in full.reshape(-1)]
        start, stop = _slices(plan)[engine.rank]
        return flat, flat[start:stop], flat[-1]
    own: list[float] = []
    for rank, (start, stop) in enumerate(_slices(plan)):
        part = Shared(w.share[start:stop], (stop - start, 1))
        value = await engine.reveal(part, to=[rank])
        if value is not None:
            own = [float(v) for v in value.reshape(-1)]
    bias = await engine.reveal(Shared(w.share[-1:], (1, 1)), to=[plan.label_rank])
    return None, own, None if bias is None else float(bias.reshape(-1)[0])


@component
class SsLr(Component):
    spec = TRAIN_SPEC

    async def run(self, ctx: RunContext) -> None:
        parties = ctx.env.parties
        s = params.settings(ctx.params, parties)
        params.check_ttp(s, len(parties))
        rank = ctx.env.rank
        owner = rank == s.label_rank
        table = data.load(
            ctx,
            ctx.input("train_data"),
            slot="train_data",
            id_col=s.id_col,
            label_col=s.label_col if owner else None,
            skip_rows=s.skip_rows,
        )
        if s.feature_nums is not None and s.feature_nums[rank] != len(table.names):
            raise ParameterError(
                "feature_nums",
                f"says {s.feature_nums[rank]} features for {parties[rank]}, its table has "
                f"{len(table.names)} ({table.names})",
            )
        offer = handshake.Offer(s, len(table.ids), len(table.names), owner, ctx.env.session_id)
        started = time.perf_counter()
        link = await ctx.link_from_params()
        if s.handshake:
            agreement = await handshake.negotiate(link, offer)
        else:
            agreement = handshake.without_handshake(offer, link.world_size)
        plan = agreement.plan
        ring = Ring(agreement.field)
        source = await triples.make(link, ring, agreement, s)
        try:
            engine = Semi2k(
                link,
                ring,
                agreement.fxp_bits,
                source,
                trunc_mode=agreement.trunc_mode,
                prg_crypto=agreement.prg_crypto,
            )
            await engine.setup()
            w = await train(engine, table.x, table.y, plan)
            every, weights, bias = await reveal_model(engine, w, plan, s.reveal_weights_to)
        finally:
            await source.close()
        elapsed = time.perf_counter() - started
        share = ring.decode(w.share, agreement.fxp_bits).reshape(-1)
        _write(ctx, "weights_share", "".join(f"{v!r}\n" for v in share), len(share), "txt")
        model: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "rank": rank,
            "parties": parties,
            "id_col": s.id_col,
            "features": table.names,
            "feature_nums": list(plan.feature_nums),
            "label_rank": plan.label_rank,
            "reveal_weights_to": s.reveal_weights_to,
            "weights": weights,
            "bias": bias,
            "all_weights": every,
            "plan": {
                "num_epoch": plan.num_epoch,
                "batch_size": plan.batch_size,
                "learning_rate": plan.learning_rate,
                "l2_norm": plan.l2_norm,
                "field": agreement.field,
                "fxp_bits": agreement.fxp_bits,
                "trunc_mode": agreement.trunc_mode,
                "triples": "ttp" if agreement.ttp_host else "he",
            },
        }
        if owner:
            model["label_col"] = table.label_col
        _write(ctx, "model", json.dumps(model, indent=1), 1, "json")
        summary = {"rank": rank, "rows": len(table.ids), "train_s": elapsed}
        ctx.report.update(summary)
        ctx.log.info("ss_lr report %s", json.dumps(summary))


def read_model(ctx: RunContext) -> dict[str, Any]:
    """This party's ss_lr model; ParameterError naming ``model`` if it is not one or was
    trained by another party."""
    with ctx.storage.reader(ctx.input("model")) as raw:
        try:
            model = json.loads(raw.read())
        except ValueError:
            raise ParameterError("model", "not an ss_lr model (not JSON)") from None
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise ParameterError("model", "not an ss_lr model")
    if model.get("rank") != ctx.env.rank or model.get("parties") != ctx.env.parties:
        raise ParameterError("model", "this model was trained by another party or job layout")
    return model


async def mask_among(link: LinkContext, ring: Ring, x: Shared, holders: list[int]) -> Shared:
    """``x`` plus a fresh zero-sharing among ``holders`` (each sends the next a random
    ring tensor): the shares sent to a non-holder no longer show any holder's input,
    while their sum is unchanged. Nothing to do with fewer than two holders."""
    if len(holders) < 2 or link.rank not in holders:
        return x
    position = holders.index(link.rank)
    after, before = holders[(position + 1) % len(holders)], holders[position - 1]
    count = int(np.prod(x.shape)) * (ring.element_bytes // 8)
    mask = np.frombuffer(secrets.token_bytes(8 * count), dtype=np.uint64).reshape(x.share.shape)
    await link.send(after, ring.to_bytes(mask))
    received = ring.from_bytes(await link.recv(before), x.shape)
    return Shared(ring.sub(ring.add(x.share, mask), received), x.shape)


async def joint_scores(
    link: LinkContext, ring: Ring, fxp_bits: int, partial: np.ndarray, label_rank: int
) -> np.ndarray | None:
    """Σ of every party's ``partial`` scores, revealed to ``label_rank`` only (None
    elsewhere): shared by initial sharing, summed, re-masked among the other parties."""
    rows = int(partial.shape[0])
    engine = Semi2k(link, ring, fxp_bits, triples.NoTriples(ring))
    await engine.setup()
    parts = [
        engine.input(r, partial.reshape(rows, 1) if r == link.rank else None, (rows, 1))
        for r in range(link.world_size)
    ]
    total = parts[0]
    for part in parts[1:]:
        total = engine.add(total, part)
    holders = [r for r in range(link.world_size) if r != label_rank]
    total = await mask_among(link, ring, total, holders)
    return await engine.reveal(total, to=[label_rank])


@component
class SsLrPredict(Component):
    spec = PREDICT_SPEC

    async def run(self, ctx: RunContext) -> None:
        model = read_model(ctx)
        label_rank = int(model["label_rank"])
        owner = ctx.env.rank == label_rank
        plan = model["plan"]
        table = data.load(
            ctx,
            ctx.input("test_data"),
            slot="test_data",
            id_col=str(model["id_col"]),
            label_col=None,
            features=list(model["features"]),
        )
        partial = table.x @ np.array(model["weights"], dtype=np.float64)
        if owner:
            partial = partial + float(model["bias"])
        rows = len(table.ids)
        link = await ctx.link_from_params()
        scores = await joint_scores(
            link, Ring(int(plan["field"])), int(plan["fxp_bits"]), partial, label_rank
        )
        if not owner:
            ctx.report.update(rank=ctx.env.rank, rows=rows)
            return
        assert scores is not None
        probabilities = 1.0 / (1.0 + np.exp(-scores.reshape(-1)))
        label_col = str(model.get("label_col") or "")
        labels = _labels_if_present(ctx, label_col, table.ids, str(model["id_col"]))
        header = [str(model["id_col"]), "score"] + ([label_col] if labels is not None else [])
        out = (
            [i, repr(float(p))] + ([labels[k]] if labels is not None else [])
            for k, (i, p) in enumerate(zip(table.ids, probabilities, strict=True))
        )
        written = write_csv(ctx.storage, ctx.output("result"), header, out)
        ctx.report.update(rank=ctx.env.rank, rows=written)
        ctx.log.info("ss_lr_predict: %d rows scored", written)


def _labels_if_present(
    ctx: RunContext, label_col: str, ids: list[str], id_col: str
) -> list[str] | None:
    """The label column of ``test_data`` in the scored rows' (id) order, if it has one."""
    with csv_rows(ctx.storage, ctx.input("test_data")) as (header, rows):
        if not label_col or label_col not in header:
            return None
        li, ii = header.index(label_col), header.index(id_col)
        by_id = {row[ii]: row[li] for row in rows}
    return [by_id[i] for i in ids]
