"""The ``he_lr`` (training) and ``he_lr_predict`` components (docs/protocol.md §14).

Role guest (rank 0) is the label holder and the only Paillier key owner; role host
(ranks 1..) are feature holders. Each party reads its own table (rows aligned across
parties by order, as an ``ecdh_psi`` output is), standardises its own feature columns
locally (mean and population standard deviation of its training rows) and keeps, in its
``model`` output, only its own weights and standardisation (the guest also the
intercept). Nothing a partner owns is ever written.

Bad input is refused before any message is sent, naming the field: a missing label or
id column, a non-numeric or NaN/infinite cell (column and row), a constant column
(standard deviation 0: it carries no information and cannot be standardised, so it is an
error, not a silent drop: remove it with ``column_select``), a Paillier key below 2048
bits without ``allow_insecure_key_size``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from isthmus.components.builtin.he_lr import handshake, protocol
from isthmus.components.env import TableRef
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import LINK_PARAMS, Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows, id_order, write_csv
from isthmus.crypto.phe import SUPPORTED_KEY_BITS, KeySizeRefused, check_key_bits

MODEL_FORMAT = "isthmus.he_lr.v1"

TRAIN_SPEC = ComponentSpec(
    name="he_lr",
    provider="isthmus",
    version="0.1.0",
    title="HE logistic regression",
    description="Vertical logistic regression with Paillier (mini-batch SGD, L2, early "
    "stop): the guest holds the labels and the key, hosts hold features; no third party "
    "(docs/protocol.md §14).",
    roles=("guest", "host"),
    params=(
        Param("label_col", default="y", description="guest: the label column (0/1)"),
        Param("id_col", default="id", description="the row id column (not a feature)"),
        Param("learning_rate", type="float", default=0.1, validator="(0,inf)"),
        Param("epochs", type="int", default=10, validator="[1,100000]"),
        Param("batch_size", type="int", default=64, validator="[1,inf)"),
        Param("l2", type="float", default=0.0, validator="[0,inf)", description="L2 weight"),
        Param(
            "tol",
            type="float",
            default=1e-4,
            validator="[0,inf)",
            description="stop early when the epoch's mean log-loss moves by less than this",
        ),
        Param(
            "key_bits",
            type="int",
            default=2048,
            validator="[1024,3072]",
            description="Paillier modulus: 2048 or 3072 (1024 only in tests)",
        ),
        Param(
            "allow_insecure_key_size",
            type="boolean",
            default=False,
            description="tests only: accept 1024-bit Paillier keys",
        ),
        Param("seed", type="int", default=-1, description="row-order seed; -1: random"),
        Param("workers", type="int", default=0, validator="[0,1024]", description="0: all cores"),
        *LINK_PARAMS,
    ),
    inputs=(DataSlot("train_data", "dataset", ("csv",), "the party's aligned rows"),),
    outputs=(DataSlot("model", "model", ("json",), "this party's weights and standardisation"),),
    results=(("0", "success"),),
)

PREDICT_SPEC = ComponentSpec(
    name="he_lr_predict",
    provider="isthmus",
    version="0.1.0",
    title="HE logistic regression: prediction",
    description="Scores rows with an he_lr model: each party computes its partial scores, "
    "the guest gets the probabilities and writes id,score (and the label if present).",
    roles=("guest", "host"),
    params=LINK_PARAMS,
    inputs=(
        DataSlot("model", "model", ("json",), "this party's he_lr model"),
        DataSlot("test_data", "dataset", ("csv",), "the party's aligned rows to score"),
    ),
    outputs=(DataSlot("result", "dataset", ("csv",), "guest: id,score[,label]"),),
    results=(("0", "success"),),
)


@dataclass
class Table:
    """A party's numeric table: ids, the feature matrix and names, the labels (guest)."""

    ids: list[str]
    x: Any
    names: list[str]
    y: Any | None
    label_text: list[str] | None


def load_table(
    ctx: RunContext,
    ref: TableRef,
    id_col: str,
    label_col: str | None,
    *,
    slot: str,
    features: list[str] | None = None,
) -> Table:
    """Read and check a party's table; ParameterError naming the field at fault."""
    with csv_rows(ctx.storage, ref) as (header, rows):
        if id_col not in header:
            raise ParameterError("id_col", f"{id_col!r} is not a column of {slot}")
        if label_col is not None and label_col not in header:
            raise ParameterError("label_col", f"{label_col!r} is not a column of {slot}")
        names = features or [c for c in header if c not in (id_col, label_col)]
        missing = [c for c in names if c not in header]
        if missing:
            raise ParameterError(slot, f"the model's feature columns are missing: {missing}")
        if not names:
            raise ParameterError(slot, "no feature column besides the id and label")
        positions = [header.index(c) for c in names]
        ii = header.index(id_col)
        li = header.index(label_col) if label_col is not None else None
        ids: list[str] = []
        matrix: list[list[float]] = []
        labels: list[float] = []
        texts: list[str] = []
        for line, row in enumerate(rows, start=1):
            ids.append(row[ii])
            values = []
            for name, position in zip(names, positions, strict=True):
                try:
                    value = float(row[position])
                except ValueError:
                    raise ParameterError(
                        slot, f"column {name!r}: row {line} is not a number"
                    ) from None
                if not math.isfinite(value):
                    raise ParameterError(slot, f"column {name!r}: row {line} is NaN or infinite")
                values.append(value)
            matrix.append(values)
            if li is not None:
                text = row[li]
                if text.strip() not in ("0", "1", "0.0", "1.0"):
                    raise ParameterError(
                        "label_col", f"column {label_col!r}: row {line} is not 0 or 1"
                    )
                texts.append(text)
                labels.append(float(text))
    if not ids:
        raise ParameterError(slot, "the table has no rows")
    # Every party puts its rows in id order, so tables holding the same ids in different
    # orders (a PSI's outputs) are aligned; the handshake's id digest then proves it.
    order = id_order(ids, id_col)
    x = np.array(matrix, dtype=np.float64)[order]
    y = np.array(labels)[order] if li is not None else None
    ordered_texts = [texts[r] for r in order] if li is not None else None
    return Table([ids[r] for r in order], x, names, y, ordered_texts)


def ids_digest(ids: list[str]) -> str:
    """SHA-256 (hex) of the id column, one id per line in row order: the handshake's
    check that the parties' rows are aligned (ids are shared after a PSI anyway)."""
    digest = hashlib.sha256()
    for value in ids:
        digest.update(value.encode("utf-8") + b"\n")
    return digest.hexdigest()


def standardise(x: Any, names: list[str], slot: str) -> tuple[Any, Any]:
    """Column means and population standard deviations; ParameterError for a constant
    column (std 0), naming it."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    constant = [n for n, s in zip(names, std, strict=True) if not s > 0]
    if constant:
        raise ParameterError(
            slot,
            f"constant column(s) {constant} (standard deviation 0) cannot be standardised; "
            "drop them (column_select) first",
        )
    return mean, std


def _write_json(ctx: RunContext, slot: str, document: dict[str, Any]) -> None:
    target = ctx.output(slot)
    with ctx.storage.writer(target) as out:
        out.write(json.dumps(document, indent=1).encode())
    ctx.storage.write_meta(
        target,
        TableMeta(name=target.name, namespace=target.namespace, count=1, file_type="json"),
    )


def _is_guest(ctx: RunContext) -> bool:
    return ctx.env.rank == 0


def accepted_key_sizes(allow_insecure: bool) -> tuple[int, ...]:
    """The Paillier sizes this party accepts, best first."""
    sizes = []
    for bits in (2048, 3072, 1024):
        try:
            check_key_bits(bits, allow_insecure=allow_insecure)
        except KeySizeRefused:
            continue
        sizes.append(bits)
    return tuple(sizes)


@component
class HeLr(Component):
    spec = TRAIN_SPEC

    async def run(self, ctx: RunContext) -> None:
        p = ctx.params
        guest = _is_guest(ctx)
        insecure = bool(p["allow_insecure_key_size"])
        key_bits = int(p["key_bits"])
        if key_bits not in SUPPORTED_KEY_BITS:
            raise ParameterError("key_bits", f"{key_bits} is not one of {SUPPORTED_KEY_BITS}")
        if guest:
            try:
                check_key_bits(key_bits, allow_insecure=insecure)
            except KeySizeRefused as exc:
                raise ParameterError("key_bits", str(exc)) from None
        table = load_table(
            ctx,
            ctx.input("train_data"),
            str(p["id_col"]),
            str(p["label_col"]) if guest else None,
            slot="train_data",
        )
        mean, std = standardise(table.x, table.names, "train_data")
        x = (table.x - mean) / std
        hyper = protocol.Hyper(
            float(p["learning_rate"]),
            int(p["epochs"]),
            int(p["batch_size"]),
            float(p["l2"]),
            float(p["tol"]),
        )
        offer = handshake.Offer(
            "train",
            len(table.ids),
            len(table.names),
            accepted_key_sizes(insecure),
            hyper.as_dict(),
            key_bits,
            ids_digest(table.ids),
        )
        started = time.perf_counter()
        link = await ctx.link_from_params()
        agreement = await handshake.negotiate(link, offer)
        hyper = protocol.Hyper.from_dict(agreement.hyper)
        workers = int(p["workers"]) or (os.cpu_count() or 1)
        if guest:
            assert table.y is not None
            seed = int(p["seed"])
            result = await protocol.train_guest(
                link,
                x,
                table.y,
                hyper,
                key_bits=agreement.key_bits,
                allow_insecure=insecure,
                seed=seed if seed >= 0 else None,
                workers=workers,
                feature_nums=agreement.feature_nums,
            )
        else:
            result = await protocol.train_host(
                link,
                x,
                hyper,
                key_bits=agreement.key_bits,
                allow_insecure=insecure,
                workers=workers,
            )
        elapsed = time.perf_counter() - started
        model: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "rank": link.rank,
            "id_col": str(p["id_col"]),
            "features": table.names,
            "mean": mean.tolist(),
            "std": std.tolist(),
            "weights": result.weights.tolist(),
            "hyper": hyper.as_dict(),
            "key_bits": agreement.key_bits,
            "feature_nums": list(agreement.feature_nums),
            "epochs_run": result.epochs_run,
        }
        if guest:
            model.update(
                label_col=str(p["label_col"]), intercept=result.intercept, losses=result.losses
            )
        _write_json(ctx, "model", model)
        summary = {"rank": link.rank, "epochs_run": result.epochs_run, "train_s": elapsed}
        if guest and result.losses:
            summary["final_loss"] = result.losses[-1]
        ctx.report.update(summary)
        ctx.log.info("he_lr report %s", json.dumps(summary))


def read_model(ctx: RunContext) -> dict[str, Any]:
    """This party's he_lr model; ParameterError naming the ``model`` input if it is not
    one, or belongs to another role."""
    with ctx.storage.reader(ctx.input("model")) as raw:
        try:
            model = json.loads(raw.read())
        except ValueError:
            raise ParameterError("model", "not an he_lr model (not JSON)") from None
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise ParameterError("model", "not an he_lr model")
    if (model.get("rank") == 0) != _is_guest(ctx) or ("intercept" in model) != _is_guest(ctx):
        raise ParameterError("model", "this model was trained by a party of another role")
    return model


@component
class HeLrPredict(Component):
    spec = PREDICT_SPEC

    async def run(self, ctx: RunContext) -> None:
        model = read_model(ctx)
        guest = _is_guest(ctx)
        id_col = str(model["id_col"])
        table = load_table(
            ctx,
            ctx.input("test_data"),
            id_col,
            None,
            slot="test_data",
            features=list(model["features"]),
        )
        x = (table.x - np.array(model["mean"])) / np.array(model["std"])
        scores = x @ np.array(model["weights"])
        offer = handshake.Offer(
            "predict", len(table.ids), len(table.names), hyper={}, ids_sha256=ids_digest(table.ids)
        )
        link = await ctx.link_from_params()
        await handshake.negotiate(link, offer)
        if not guest:
            await protocol.predict_host(link, scores)
            ctx.report.update(rank=link.rank, rows=len(table.ids))
            return
        probabilities = await protocol.predict_guest(link, scores + float(model["intercept"]))
        label_col = str(model["label_col"])
        labels = _labels_if_present(ctx, label_col)
        header = [id_col, "score"] + ([label_col] if labels is not None else [])
        rows = (
            [i, repr(float(s))] + ([labels[k]] if labels is not None else [])
            for k, (i, s) in enumerate(zip(table.ids, probabilities, strict=True))
        )
        written = write_csv(ctx.storage, ctx.output("result"), header, rows)
        ctx.report.update(rank=0, rows=written)
        ctx.log.info("he_lr_predict: %d rows scored", written)


def _labels_if_present(ctx: RunContext, label_col: str) -> list[str] | None:
    with csv_rows(ctx.storage, ctx.input("test_data")) as (header, rows):
        if label_col not in header:
            return None
        position = header.index(label_col)
        return [row[position] for row in rows]
