"""SS-LR's parameters and input tables: every value Isthmus cannot honour, and every bad
cell, is a ParameterError naming the parameter (or input) before anything is sent."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isthmus.components.builtin.ss_lr import data, params
from isthmus.components.env import read_env
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import RunContext
from isthmus.components.storage import open_storage
from tests.components.conftest import container_env

PARTIES = ["guest.0", "host.0"]
BASE = {p.name: p.default for p in params.TRAIN_PARAMS}


def parsed(**changes: Any) -> params.Settings:
    return params.settings({**BASE, "label_owner": "host.0", **changes}, PARTIES)


def test_the_defaults_are_the_digest_values() -> None:
    s = parsed()
    assert (s.field, s.fxp_bits, s.trunc_mode, s.prg_crypto) == (
        64,
        18,
        "probabilistic",
        "AES128_CTR",
    )
    assert s.label_rank == 1 and s.feature_nums is None and s.reveal_weights_to == "own"


def test_enumerations_are_read_as_interconnection_impl_spells_them() -> None:
    s = parsed(protocol="SEMI2K", field=128, trunc_mode="Precise", prg_crypto="sm4_ctr")
    assert (s.field, s.trunc_mode, s.prg_crypto) == (128, "precise", "SM4_CTR")
    assert parsed(feature_nums='{"host.0": 1, "guest.0": 4}').feature_nums == (4, 1)


@pytest.mark.parametrize(
    ("changes", "name", "words"),
    [
        ({"protocol": "aby3"}, "protocol", "'aby3' is not supported"),
        ({"field": 32}, "field", "32 is not supported"),
        ({"optimizer": "adam"}, "optimizer", "'adam' is not supported"),
        ({"sigmoid_mode": "real"}, "sigmoid_mode", "not supported"),
        ({"trunc_mode": "exact"}, "trunc_mode", "not supported"),
        ({"last_batch_policy": "keep"}, "last_batch_policy", "not supported"),
        ({"shard_serialize_format": "protobuf"}, "shard_serialize_format", "not supported"),
        ({"l1_norm": 0.5}, "l1_norm", "only 0"),
        ({"l0_norm": 1.0}, "l0_norm", "only 0"),
        ({"fxp_bits": 40}, "fxp_bits", "no integer bits"),
        ({"ttp_ca_pem": "not a certificate"}, "ttp_ca_pem", "not a PEM certificate"),
        ({"label_owner": "host.7"}, "label_owner", "not a party"),
        ({"label_owner": ""}, "label_owner", "not a party"),
        ({"feature_nums": "{nope"}, "feature_nums", "not JSON"),
        ({"feature_nums": '{"guest.0": 1}'}, "feature_nums", "must name every party"),
        ({"feature_nums": '{"guest.0": 1, "host.0": -2}'}, "feature_nums", "non-negative"),
        ({"reveal_weights_to": "guest.0"}, "reveal_weights_to", "not supported"),
        ({"key_bits": 1024}, "key_bits", "1024"),
    ],
)
def test_a_value_isthmus_cannot_honour_is_refused_by_name(
    changes: dict[str, Any], name: str, words: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        parsed(**changes)
    assert caught.value.name == name and words in caught.value.message


def test_ttp_settings_are_checked() -> None:
    with pytest.raises(ParameterError, match="ttp_server_host"):
        params.check_ttp(parsed(use_ttp=True), 2)
    with pytest.raises(ParameterError, match="ttp_adjust_rank"):
        params.check_ttp(parsed(use_ttp=True, ttp_server_host="h:1", ttp_adjust_rank=2), 2)
    params.check_ttp(parsed(use_ttp=True, ttp_server_host="h:1", ttp_adjust_rank=1), 2)


GOOD = "id,a,b,y\n" + "".join(f"{9 - i},{i * 0.5},{(i * 7) % 5},{i % 2}\n" for i in range(8))


def context(storage: Path, table: str) -> RunContext:
    (storage / "ns" / "t").write_text(table)
    env = container_env(
        storage,
        **{"runtime.component.input.train_data": json.dumps({"namespace": "ns", "name": "t"})},
    )
    contract = read_env(env)
    return RunContext(contract, {}, open_storage(contract.storage), logging.getLogger("t"))


def load(storage: Path, table: str, label: str | None = "", skip: int = 0) -> data.Table:
    ctx = context(storage, table)
    return data.load(ctx, ctx.input("train_data"), slot="train_data", id_col="id",
                     label_col=label, skip_rows=skip)  # fmt: skip


def test_a_table_is_read_in_id_order_with_the_last_column_as_label(storage: Path) -> None:
    table = load(storage, GOOD)
    assert table.ids == [str(i) for i in range(2, 10)] and table.names == ["a", "b"]
    assert table.label_col == "y"
    assert np.array_equal(table.x[0], [3.5, 4.0]) and table.y is not None and table.y[0] == 1
    assert load(storage, GOOD, label=None).names == ["a", "b", "y"]
    assert load(storage, GOOD, skip=3).ids == [str(i) for i in range(2, 7)]


@pytest.mark.parametrize(
    ("table", "label", "name", "words"),
    [
        (GOOD.replace("id,", "key,"), "", "id_col", "'id' is not a column"),
        (GOOD, "z", "label_col", "'z' is not a label column"),
        (GOOD.replace("9,0.0,", "9,abc,"), "", "train_data", "'a': row 2 is not a number"),
        (GOOD.replace("8,0.5,", "8,inf,"), "", "train_data", "NaN or infinite"),
        (GOOD.replace(",1\n", ",3\n", 1), "", "train_data", "not 0 or 1"),
        (GOOD.replace("8,0.5,2,1\n", "8,0.5\n"), "", "train_data", "row 3 has 2 fields"),
        (GOOD.replace("8,0.5", "9,0.5"), "", "train_data", "repeats the id '9'"),
        ("id,a,y\n", "", "train_data", "no rows"),
    ],
)
def test_a_bad_table_is_refused_naming_the_input(
    storage: Path, table: str, label: str, name: str, words: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        load(storage, table, label)
    assert caught.value.name == name and words in caught.value.message, caught.value.message


def test_the_component_refuses_feature_nums_that_disagree_with_its_table(storage: Path) -> None:
    from isthmus.components.builtin.ss_lr.component import SsLr

    (storage / "ns" / "t").write_text(GOOD)
    env = container_env(
        storage,
        **{
            "runtime.component.name": "ss_lr",
            "runtime.component.input.train_data": json.dumps({"namespace": "ns", "name": "t"}),
            "runtime.component.output.model": json.dumps({"namespace": "o", "name": "m"}),
            "runtime.component.parameter.label_owner": "guest.0",
            "runtime.component.parameter.feature_nums": '{"guest.0": 3, "host.0": 1}',
        },
    )
    contract = read_env(env)
    values = SsLr.spec.parameters(contract.parameters)
    ctx = RunContext(contract, values, open_storage(contract.storage), logging.getLogger("t"))
    with pytest.raises(ParameterError) as caught:
        asyncio.run(SsLr().run(ctx))
    assert caught.value.name == "feature_nums" and "its table has 2" in caught.value.message


def test_standardize_scales_each_column_and_refuses_a_constant_one(storage: Path) -> None:
    table = load(storage, GOOD)
    mean, std = data.scales(table)
    assert np.allclose(((table.x - mean) / std).mean(axis=0), 0)
    assert np.allclose(((table.x - mean) / std).std(axis=0), 1)
    flat = load(storage, "id,a,y\n" + "".join(f"{i},3,{i % 2}\n" for i in range(5)))
    with pytest.raises(ParameterError) as caught:
        data.scales(flat)
    assert caught.value.name == "standardize" and "['a']" in caught.value.message
