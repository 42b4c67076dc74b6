"""The ``sgb`` (training) and ``sgb_predict`` components: SecureBoost, SecretFlow's wire.

Roles: ``guest`` is the active party (rank 0: the label holder, Paillier key owner and
handshake responder); every ``host`` is a passive party. The guest decides the
training parameters and tells the hosts in the PPCA handshake (docs/protocol.md §13); a
host takes them from the response, so a host's own training parameters are ignored.

``after`` (the same on every party): ``none`` ends after training; ``predict`` runs the
joint prediction on the training rows and the guest reports the AUC; ``reveal`` does
what SecretFlow's stock runner does — it then also sends the predictions **and the
labels in plaintext** to every host — and is refused unless the job sets
``allow_plaintext_label_reveal``. Paillier keys below 2048 bits need
``allow_insecure_key_size`` (tests only).

Each party saves only its own part of the model (``model`` output): the guest the
tree shapes, leaf weights and its own split points; a host its own split points.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from isthmus.components.builtin.sgb.active import train_active
from isthmus.components.builtin.sgb.active_model import ActiveModel
from isthmus.components.builtin.sgb.passive import train_passive
from isthmus.components.builtin.sgb.passive_model import PassiveModel
from isthmus.components.builtin.sgb.predict_active import predict_active
from isthmus.components.builtin.sgb.predict_passive import predict_passive
from isthmus.components.builtin.sgb.request import PassiveSupport
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.env import TableRef
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.components.runtime import LINK_PARAMS, Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows, id_order, write_csv

GUEST = "guest"

ROW_PARAMS = (
    Param("id_col", default="id", description="the row id column (not a feature)"),
    Param(
        "sort_by_id",
        type="boolean",
        default=True,
        description="sort the rows by id first, so that parties holding the same ids in "
        "different orders (a PSI's outputs) are aligned; false: the rows are aligned "
        "already (a SecretFlow peer without --sort-ids)",
    ),
    *LINK_PARAMS,
)

TRAIN_SPEC = ComponentSpec(
    name="sgb",
    provider="isthmus",
    version="0.1.0",
    title="SecureBoost (SGB) training",
    description="Vertical SecureBoost with Paillier, wire-compatible with SecretFlow's "
    "interconnection mode (or EC-ElGamal between Isthmus parties): guest = active party "
    "(labels), hosts = passive parties.",
    roles=("guest", "host"),
    params=(
        Param("num_round", type="int", default=10, validator="[1,1024]"),
        Param("max_depth", type="int", default=5, validator="[1,16]"),
        Param("row_sample_by_tree", type="float", default=1.0, validator="(0,1]"),
        Param("col_sample_by_tree", type="float", default=1.0, validator="(0,1]"),
        Param("bucket_eps", type="float", default=0.1, validator="(0,1]"),
        Param("use_completely_sgb", type="boolean", default=False),
        Param("key_bits", type="int", default=2048, choices=(1024, 2048, 3072)),
        Param(
            "phe_algo",
            default="paillier",
            choices=("paillier", "ec_elgamal"),
            description="guest: the PHE scheme; ec_elgamal only with Isthmus hosts",
        ),
        Param("ec_curve", default="sm2", choices=("sm2", "ed25519"), description="guest"),
        Param(
            "offer_ec_elgamal",
            type="boolean",
            default=True,
            description="host: offer EC-ElGamal (SM2, Ed25519) besides Paillier",
        ),
        Param("objective", default="logistic", choices=("logistic", "squared")),
        Param("reg_lambda", type="float", default=1.0, validator="[0,10000]"),
        Param("gamma", type="float", default=0.0, validator="[0,10000]"),
        Param("learning_rate", type="float", default=0.3, validator="(0,1]"),
        Param("seed", type="int", default=1212, validator="[0,4294967295]"),
        Param("label_col", default="y", description="guest: the label column"),
        Param("after", default="none", choices=("none", "predict", "reveal")),
        Param(
            "allow_plaintext_label_reveal",
            type="boolean",
            default=False,
            description="after=reveal sends the labels in plaintext to every host",
        ),
        Param(
            "allow_insecure_key_size",
            type="boolean",
            default=False,
            description="allow 1024-bit Paillier keys (tests only)",
        ),
        *ROW_PARAMS,
    ),
    inputs=(DataSlot("train_data", "training_set", ("csv",), "the party's aligned rows"),),
    outputs=(
        DataSlot("model", "model", ("json",), "this party's part of the model"),
        DataSlot("report", "report", ("json",), "counts, timings, AUC (guest)"),
    ),
    results=(("0", "success"),),
)

PREDICT_SPEC = ComponentSpec(
    name="sgb_predict",
    provider="isthmus",
    version="0.1.0",
    title="SecureBoost (SGB) prediction",
    description="Joint prediction with a model trained by sgb: every party evaluates its "
    "own splits; the guest gets the scores.",
    roles=("guest", "host"),
    params=(
        *ROW_PARAMS,
        Param(
            "label_col",
            default="",
            description="guest: a label column of the test data to copy beside the scores "
            "(what evaluate reads); empty: scores only",
        ),
    ),
    inputs=(
        DataSlot("model", "model", ("json",), "this party's part of the model"),
        DataSlot("test_data", "test_set", ("csv",), "the party's aligned rows"),
    ),
    outputs=(DataSlot("predictions", "dataset", ("csv",), "guest: id and score per row"),),
    results=(("0", "success"),),
)


def read_table(
    ctx: RunContext,
    source: TableRef,
    id_col: str,
    label_col: str | None,
    sort_by_id: bool = False,
) -> tuple[list[str], list[str], np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """(ids, feature names, float64 features, labels): every column but the id and the
    label is a feature; a non-numeric cell is an error naming its column and row. With
    ``sort_by_id`` the rows come in id order (``tables.id_order``)."""
    with csv_rows(ctx.storage, source) as (header, rows):
        if id_col not in header:
            raise ParameterError("id_col", f"{id_col!r} is not a column of the input")
        if label_col is not None and label_col not in header:
            raise ParameterError("label_col", f"{label_col!r} is not a column of the input")
        names = [c for c in header if c not in (id_col, label_col)]
        where = [header.index(c) for c in names]
        id_at = header.index(id_col)
        label_at = header.index(label_col) if label_col is not None else -1
        ids: list[str] = []
        values: list[list[float]] = []
        labels: list[float] = []
        for number, row in enumerate(rows):
            ids.append(row[id_at])
            try:
                values.append([float(row[i]) for i in where])
            except ValueError:
                bad = next(n for n, i in zip(names, where, strict=True) if not _is_float(row[i]))
                raise AlgorithmError(
                    f"feature column {bad!r} is not numeric (row {number})"
                ) from None
            if label_at >= 0:
                if not _is_float(row[label_at]):
                    raise AlgorithmError(
                        f"label column {label_col!r} is not numeric (row {number})"
                    )
                labels.append(float(row[label_at]))
    x = np.asarray(values, dtype=np.float64).reshape(len(ids), len(names))
    y = np.asarray(labels, dtype=np.float64) if label_col is not None else None
    if not ids:
        raise AlgorithmError(f"the input table {source.namespace}/{source.name} has no rows")
    finite = np.isfinite(x)
    if not finite.all():
        column = int(np.argmin(finite.all(axis=0)))
        at = int(np.argmin(finite[:, column]))
        raise AlgorithmError(f"feature column {names[column]!r} holds NaN or infinity (row {at})")
    if y is not None and not np.isfinite(y).all():
        at = int(np.argmin(np.isfinite(y)))
        raise AlgorithmError(f"label column {label_col!r} holds NaN or infinity (row {at})")
    if sort_by_id:
        order = id_order(ids, id_col)
        ids = [ids[r] for r in order]
        x = x[order]
        y = y[order] if y is not None else None
    return ids, names, x, y


def _refuse_constant_columns(names: list[str], x: np.ndarray[Any, Any]) -> None:
    """A column with one value cannot split a node: name it rather than train around it
    (the first one found, in column order)."""
    if x.shape[0] == 0:
        return
    constant = np.flatnonzero(x.min(axis=0) == x.max(axis=0))
    if constant.size:
        raise AlgorithmError(
            f"feature column {names[int(constant[0])]!r} is constant: it cannot split any node"
        )


def _label_text(value: float) -> str:
    """A label as the table had it: ``1`` rather than ``1.0`` for whole numbers."""
    return str(int(value)) if value.is_integer() else repr(value)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _write_bytes(ctx: RunContext, slot: str, data: bytes) -> None:
    target = ctx.output(slot)
    with ctx.storage.writer(target) as out:
        out.write(data)
    ctx.storage.write_meta(
        target, TableMeta(name=target.name, namespace=target.namespace, file_type="json")
    )


def _read_bytes(ctx: RunContext, slot: str) -> bytes:
    with ctx.storage.reader(ctx.input(slot)) as source:
        return source.read()


@component
class SgbComponent(Component):
    spec = TRAIN_SPEC

    async def run(self, ctx: RunContext) -> None:
        p = ctx.params
        guest = ctx.env.self_role.split(".")[0] == GUEST
        after = str(p["after"])
        allow_reveal = bool(p["allow_plaintext_label_reveal"])
        if after == "reveal" and not allow_reveal:
            raise ParameterError(
                "allow_plaintext_label_reveal",
                "after=reveal sends the labels in plaintext to the hosts; set it to true "
                "to allow that",
            )
        settings = None
        if guest:
            settings = SgbSettings(
                num_round=int(p["num_round"]), max_depth=int(p["max_depth"]),
                row_sample_by_tree=float(p["row_sample_by_tree"]),
                col_sample_by_tree=float(p["col_sample_by_tree"]),
                bucket_eps=float(p["bucket_eps"]),
                use_completely_sgb=bool(p["use_completely_sgb"]), key_bits=int(p["key_bits"]),
                objective=str(p["objective"]), reg_lambda=float(p["reg_lambda"]),
                gamma=float(p["gamma"]), learning_rate=float(p["learning_rate"]),
                seed=int(p["seed"]), allow_insecure_key_size=bool(p["allow_insecure_key_size"]),
                phe_algo=str(p["phe_algo"]), ec_curve=str(p["ec_curve"]),
            )  # fmt: skip
        label_col = str(p["label_col"]) if guest else None
        ids, names, x, y = read_table(
            ctx, ctx.input("train_data"), str(p["id_col"]), label_col, bool(p["sort_by_id"])
        )
        _refuse_constant_columns(names, x)  # before any partner is kept waiting
        link = await ctx.link_from_params()
        report: dict[str, Any] = {"rank": ctx.env.rank, "role": ctx.env.self_role}
        with tempfile.TemporaryDirectory(prefix="isthmus-sgb-") as scratch:
            path = Path(scratch) / "model.json"
            if guest:
                assert settings is not None and y is not None
                model, train_report = await train_active(
                    link, x, names, y, settings, after=after, allow_reveal=allow_reveal
                )
                model.save(path)
                report.update(train_report.to_json())
            else:
                passive_model = await train_passive(
                    link,
                    x,
                    names,
                    after=after,
                    allow_reveal=allow_reveal,
                    allow_insecure_key_size=bool(p["allow_insecure_key_size"]),
                    support=PassiveSupport(
                        ec_elgamal_curves=(2, 3) if bool(p["offer_ec_elgamal"]) else ()
                    ),
                )
                passive_model.save(path)
            _write_bytes(ctx, "model", path.read_bytes())
        report["rows"] = len(ids)
        if "report" in ctx.env.outputs:
            _write_bytes(ctx, "report", json.dumps(report).encode())
        ctx.report.update(report)
        ctx.log.info("sgb report %s", json.dumps(report))


@component
class SgbPredictComponent(Component):
    spec = PREDICT_SPEC

    async def run(self, ctx: RunContext) -> None:
        p = ctx.params
        guest = ctx.env.self_role.split(".")[0] == GUEST
        with tempfile.TemporaryDirectory(prefix="isthmus-sgb-") as scratch:
            path = Path(scratch) / "model.json"
            path.write_bytes(_read_bytes(ctx, "model"))
            label_col = str(p["label_col"]) or None if guest else None
            ids, names, x, y = read_table(
                ctx, ctx.input("test_data"), str(p["id_col"]), label_col, bool(p["sort_by_id"])
            )
            if guest:
                model = ActiveModel.load(path)
                if tuple(names) != model.feature_names:
                    raise AlgorithmError(
                        f"test_data columns {names} are not the model's {list(model.feature_names)}"
                    )
                link = await ctx.link_from_params()
                scores = await predict_active(link, model, x)
                header = [str(p["id_col"]), "score"]
                rows: Iterable[list[str]] = (
                    [i, repr(float(s))] for i, s in zip(ids, scores, strict=True)
                )
                if label_col is not None and y is not None:
                    header.append(label_col)
                    rows = (
                        [i, repr(float(s)), _label_text(v)]
                        for i, s, v in zip(ids, scores, y, strict=True)
                    )
                write_csv(ctx.storage, ctx.output("predictions"), header, rows)
            else:
                passive_model = PassiveModel.load(path)
                link = await ctx.link_from_params()
                await predict_passive(link, passive_model, x)
        report = {"rank": ctx.env.rank, "rows": len(ids)}
        ctx.report.update(report)
        ctx.log.info("sgb_predict report %s", json.dumps(report))
