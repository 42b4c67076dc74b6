"""``data_split``: a party's table into a training and a test set.

With ``key_field`` set, a row's side is decided by a keyed hash of its key, so every
party of a vertical job (whose tables were aligned by a PSI) puts the same keys in the
same set without talking; without it, by a seeded draw per row. Rows stream through.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from isthmus.components.errors import ParameterError
from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.tables import csv_rows, csv_writer

SPEC = ComponentSpec(
    name="data_split",
    provider="isthmus",
    version="0.1.0",
    title="Train/test split",
    description="Split a CSV table into training and test sets, consistently across "
    "parties when split by a key column.",
    roles=("guest", "host", "arbiter"),
    params=(
        Param("test_ratio", type="float", default=0.2, validator="(0,1)"),
        Param("seed", type="int", default=0, description="same seed, same split"),
        Param(
            "key_field",
            description="split by a hash of this column (consistent across parties); "
            "empty: a seeded draw per row",
        ),
    ),
    inputs=(DataSlot("data", "dataset", ("csv",)),),
    outputs=(
        DataSlot("train_data", "training_set", ("csv",)),
        DataSlot("test_data", "test_set", ("csv",)),
    ),
    results=(("0", "success"),),
)


def chooser(ratio: float, seed: int, key_index: int | None) -> Callable[[list[str]], bool]:
    """True for a row that goes to the test set."""
    if key_index is None:
        draw = random.Random(seed).random  # noqa: S311 - a split, not a secret
        return lambda row: draw() < ratio
    salt = seed.to_bytes(8, "big", signed=True)
    limit = int(ratio * 2**64)

    def by_key(row: list[str]) -> bool:
        digest = hashlib.blake2b(row[key_index].encode(), digest_size=8, key=salt).digest()
        return int.from_bytes(digest, "big") < limit

    return by_key


@component
class DataSplit(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        key_field = ctx.params["key_field"]
        train_target, test_target = ctx.output("train_data"), ctx.output("test_data")
        with csv_rows(ctx.storage, ctx.input("data")) as (header, rows):
            if key_field and key_field not in header:
                raise ParameterError("key_field", f"{key_field!r} is not a column")
            key_index = header.index(key_field) if key_field else None
            to_test = chooser(float(ctx.params["test_ratio"]), int(ctx.params["seed"]), key_index)
            with (
                csv_writer(ctx.storage, train_target, header) as train,
                csv_writer(ctx.storage, test_target, header) as test,
            ):
                for row in rows:
                    (test if to_test(row) else train).write(row)
        ctx.report.update(train=train.count, test=test.count)
        ctx.log.info("data_split: %d training rows, %d test rows", train.count, test.count)
