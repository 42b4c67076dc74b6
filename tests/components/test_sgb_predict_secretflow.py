"""Acceptance (issue 15): "``sgb_predict`` on Isthmus's side gives the scores
SecretFlow's model would".

On the breast-cancer split of ``gen_sgb_data.py`` with the same settings (1024-bit
Paillier, 2 rounds, depth 3, ``bucket_eps`` 0.1, sampling 1.0, seed 1212):

* SecretFlow<->SecretFlow (``../shared/peers/sf_sgb.py --after predict``) writes its
  joint prediction of the training rows, ``predictions_rank0.csv`` (id, y, score),
  and both parties' models (``model_rank0.json``, ``model_rank1.json``);
* Isthmus<->Isthmus trains ``sgb`` (guest and host, each a plain process started from a
  BFIA container environment, as a node's runner starts it), then runs ``sgb_predict``
  with each party's model on the same rows (``label_col`` y).

Our scores must be SecretFlow's row by row (SecretFlow sends float32 scores: relative
tolerance 1e-6), with the same ids and labels, and our models SecretFlow's: at every
node the same owner, feature and threshold, the same leaves, leaf weights within
fixed-point noise.

Not tested, because it cannot be: ``sgb_predict`` with an Isthmus active model trained
against a SecretFlow passive party. SecretFlow has no separate prediction runner (its
``sf_sgb.py`` predicts only right after training, ``--after predict``, in the same
session), so there is no SecretFlow passive party to run a later prediction with;
that prediction's wire is the one ``--after predict`` uses, which the active and
passive SecretFlow tests already check.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import isthmus
from isthmus.components.builtin.sgb.passive_model import PassiveModel
from isthmus.testing import free_port
from tests.components.test_sgb_passive_secretflow import tree_json
from tests.support.secretflow_sgb import peer_python
from tests.support.shared import shared_path

pytestmark = pytest.mark.multinode
SOURCE = str(Path(isthmus.__file__).resolve().parents[1])
SETTINGS = {"num_round": "2", "max_depth": "3", "key_bits": "1024", "bucket_eps": "0.1"}
SF_SETTINGS = ["--rounds", "2", "--max-depth", "3", "--key-bits", "1024", "--bucket-eps", "0.1"]
ROLES = ("guest.0", "host.0")
TIMEOUT = 300


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sgb-data")
    subprocess.run(
        [sys.executable, str(shared_path("peers", "gen_sgb_data.py")), "--out-dir", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder


def secretflow(rank: int, data: Path, out: Path, addresses: str) -> subprocess.Popen[str]:
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"stderr{rank}.log").open("w") as stderr:
        return subprocess.Popen(
            [str(peer_python()), str(shared_path("peers", "sf_sgb.py")), "--rank", str(rank),
             "--data", str(data / f"party{rank}.csv"), "--out-dir", str(out), "--after",
             "predict", "--recv-timeout-s", "120", "--addrs", addresses, *SF_SETTINGS],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip


def isthmus_party(
    storage: Path,
    role: str,
    component: str,
    slots: dict[str, dict[str, str]],
    params: dict[str, str],
) -> subprocess.Popen[str]:
    """One party of an Isthmus component, from a BFIA container environment."""
    inputs, outputs = slots["inputs"], slots["outputs"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": SOURCE,  # the isthmus under test, not whichever is installed
        "system.storage": f"file://{storage}",
        "config.self_role": role,
        "config.task_id": f"{component}-{role}",
        "config.session_id": f"session_job-{component}",
        "config.token": f"token-{component}",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "runtime.component.name": component,
        **{f"runtime.component.input.{slot}": _ref(where) for slot, where in inputs.items()},
        **{f"runtime.component.output.{slot}": _ref(where) for slot, where in outputs.items()},
        **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "isthmus.components"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _ref(where: str) -> str:
    namespace, name = where.split("/")
    return json.dumps({"namespace": namespace, "name": name})


def wait_all(processes: list[subprocess.Popen[str]], what: str) -> list[str]:
    outs: list[str] = []
    try:
        for process in processes:
            out, _ = process.communicate(timeout=TIMEOUT)
            outs.append(out)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, out in zip(processes, outs, strict=True):
        assert process.returncode == 0, f"{what} failed:\n{out[-4000:]}"
    return outs


def isthmus_job(component: str, storages: list[Path], params: dict[str, str]) -> None:
    """Both parties of ``component``, over a direct gRPC link."""
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    common = {**params, "link_addresses": addresses, "recv_timeout_s": "120"}
    if component == "sgb":
        slots = {"inputs": {"train_data": "in/data"},
                 "outputs": {"model": "out/model", "report": "out/report"}}  # fmt: skip
        parties = [
            isthmus_party(s, r, component, slots, common)
            for s, r in zip(storages, ROLES, strict=True)
        ]
    else:
        parties = []
        for storage, role in zip(storages, ROLES, strict=True):
            slots = {"inputs": {"model": "out/model", "test_data": "in/data"},
                     "outputs": {"predictions": "out/predictions"}}  # fmt: skip
            extra = {"label_col": "y"} if role == "guest.0" else {}
            parties.append(isthmus_party(storage, role, component, slots, {**common, **extra}))
    wait_all(parties, f"Isthmus {component}")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def assert_active_model_is_secretflows(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert len(ours["trees"]) == len(theirs["trees"]) == 2
    for tree, their_tree in zip(ours["trees"], theirs["trees"], strict=True):
        split_tree = their_tree["split_tree"]
        splits = {s["node"]: s for s in tree["splits"]}
        assert sorted(splits) == split_tree["split_indices"]
        for node, feature, value in zip(
            split_tree["split_indices"], split_tree["split_features"],
            split_tree["split_values"], strict=True,
        ):  # fmt: skip
            if feature == -1:  # the passive party's split: we keep only its owner
                assert (splits[node]["owner"], splits[node]["feature"]) == (1, None)
            else:
                assert splits[node]["owner"] == 0
                assert (splits[node]["feature"], splits[node]["threshold"]) == (
                    f"f{feature}",
                    value,
                )
        assert tree["leaves"] == split_tree["leaf_indices"]
        assert tree["weights"] == pytest.approx(their_tree["leaf_weight"], abs=1e-9)


def test_sgb_predict_gives_secretflows_scores(tmp_path: Path, data: Path) -> None:
    sf_out = tmp_path / "sf"
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    theirs = [secretflow(rank, data, sf_out, addresses) for rank in (0, 1)]
    storages = []
    for rank, role in enumerate(ROLES):
        storage = tmp_path / f"storage-{role}"
        (storage / "in").mkdir(parents=True)
        (storage / "in" / "data").write_bytes((data / f"party{rank}.csv").read_bytes())
        storages.append(storage)
    # our training runs beside SecretFlow's (they share nothing but the machine)
    isthmus_job("sgb", storages, {**SETTINGS, "allow_insecure_key_size": "true"})
    isthmus_job("sgb_predict", storages, {})
    wait_all(theirs, "SecretFlow<->SecretFlow")

    expected = read_csv(sf_out / "predictions_rank0.csv")
    got = read_csv(storages[0] / "out" / "predictions" / "data_0")
    assert len(got) == len(expected) == 569
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [r["y"] for r in got] == [r["y"] for r in expected]
    for ours, their in zip(got, expected, strict=True):
        assert float(ours["score"]) == pytest.approx(float(their["score"]), rel=1e-6), ours["id"]

    def model(storage: Path) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((storage / "out" / "model" / "data_0").read_text())
        return loaded

    assert_active_model_is_secretflows(
        model(storages[0]), json.loads((sf_out / "model_rank0.json").read_text())
    )
    passive = PassiveModel.load(storages[1] / "out" / "model" / "data_0")
    their_passive = json.loads((sf_out / "model_rank1.json").read_text())
    assert [tree_json(t) for t in passive.trees] == [
        t["split_tree"] for t in their_passive["trees"]
    ]
