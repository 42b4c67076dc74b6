"""Acceptance: Isthmus ``sgb`` as the ACTIVE party (guest, rank 0) against the real
SecretFlow passive party (secretflow-lite 1.10.0b1, ``../shared/peers/sf_sgb.py --rank
1``), 1024-bit Paillier, on the breast-cancer split of ``gen_sgb_data.py``.

With sampling 1.0 the protocol fixes the splits, so our trees must be SecretFlow's:
the same split owner and the same threshold at every node of ours, the same leaves,
leaf weights within fixed-point noise, and the AUC of SecretFlow↔SecretFlow (0.977148
for 1 round of depth 3, peers.md §2). Our side runs as a plain process from a container
environment (as a BFIA platform starts it); SecretFlow's passive party must finish too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import isthmus
from isthmus.testing import ProcessCluster, free_port
from tests.support.secretflow_sgb import peer_python
from tests.support.shared import shared_root

pytestmark = pytest.mark.multinode
SESSION, TOKEN = "session_job-sgb", "token-sgb"
SF_AUC_1_ROUND_DEPTH_3 = 0.977148
SOURCE = str(Path(isthmus.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sgb-data")
    script = shared_root() / "peers" / "gen_sgb_data.py"
    subprocess.run(
        [str(peer_python()), str(script), "--out-dir", str(out)], check=True, capture_output=True
    )
    return out


def start_isthmus(
    tmp_path: Path,
    data: Path,
    role: str,
    params: dict[str, str],
    extra: dict[str, str],
    parties: int = 2,
) -> subprocess.Popen[str]:
    storage = tmp_path / "storage"
    (storage / "in").mkdir(parents=True, exist_ok=True)
    (storage / "in" / "data").write_bytes((data / "party0.csv").read_bytes())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": SOURCE,  # the isthmus under test, not whichever is installed
        "system.storage": f"file://{storage}",
        "config.self_role": role,
        "config.task_id": f"sgb-{role}",
        "config.session_id": SESSION,
        "config.token": TOKEN,
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        **({"config.node_id.host.1": "NODE_C"} if parties == 3 else {}),
        "runtime.component.name": "sgb",
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.model": json.dumps({"namespace": "out", "name": "model"}),
        "runtime.component.output.report": json.dumps({"namespace": "out", "name": "report"}),
        **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "isthmus.components"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def start_secretflow(
    rank: int, data: Path, out: Path, link: list[str], settings: list[str]
) -> subprocess.Popen[str]:
    """SecretFlow's party; its (verbose) stderr goes to ``out/stderr.log``, not a pipe
    that nobody reads while the other party runs."""
    script = shared_root() / "peers" / "sf_sgb.py"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stderr.log").open("w") as stderr:
        return subprocess.Popen(
            [str(peer_python()), str(script), "--rank", str(rank),
             "--data", str(data / f"party{rank}.csv"), "--out-dir", str(out),
             "--recv-timeout-s", "120", *link, *settings],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip


def finish(
    ours: subprocess.Popen[str], theirs: subprocess.Popen[str], their_dir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        our_log, _ = ours.communicate(timeout=240)
        their_out, _ = theirs.communicate(timeout=240)
    finally:
        for process in (ours, theirs):
            if process.poll() is None:
                process.kill()
    their_err = (their_dir / "stderr.log").read_text()
    assert ours.returncode == 0, f"Isthmus party failed:\n{our_log[-4000:]}"
    assert theirs.returncode == 0, f"SecretFlow party failed:\n{their_err[-4000:]}"
    report = json.loads(our_log.split("sgb report ", 1)[1].splitlines()[0])
    their = json.loads([line for line in their_out.splitlines() if line.startswith("{")][-1])
    return report, their


TRAIN = {
    "num_round": "1", "max_depth": "3", "key_bits": "1024", "bucket_eps": "0.1",
    "allow_insecure_key_size": "true", "recv_timeout_s": "120",
}  # fmt: skip


#: SecretFlow<->SecretFlow on the same data and settings (1 round, depth 3, 1024 bits,
#: bucket_eps 0.1, sampling 1.0, seed 1212): rank 0's model_rank0.json. Nodes 0, 1, 3,
#: 4, 5 are the passive party's (no split value at rank 0), 2 and 6 the active's.
SF_TREE = {
    "split_features": [-1, -1, 6, -1, -1, -1, 0],
    "split_values": [None, None, 0.06154, None, None, None, 11.366],
    "leaf_indices": [7, 8, 9, 10, 11, 12, 13, 14],
    "leaf_weight": [
        0.5668711656441717, 0.23265306122448978, 0.24, -0.4714285714285714,
        0.19999999999999998, -0.36, 0.0, -0.5854545454545454,
    ],
}  # fmt: skip


def assert_same_tree_as_secretflow(model: dict[str, Any]) -> None:
    trees = model["trees"]
    assert isinstance(trees, list) and len(trees) == 1
    tree = trees[0]
    splits = {s["node"]: s for s in tree["splits"]}
    assert sorted(splits) == list(range(7))
    for node, (feature, value) in enumerate(
        zip(SF_TREE["split_features"], SF_TREE["split_values"], strict=True)
    ):
        if feature == -1:  # the passive party's split: we keep only who owns it
            assert splits[node] == {"node": node, "owner": 1, "feature": None, "threshold": None}
        else:
            assert splits[node]["owner"] == 0
            assert splits[node]["feature"] == f"f{feature}"
            assert splits[node]["threshold"] == value
    assert tree["leaves"] == SF_TREE["leaf_indices"]
    assert tree["weights"] == pytest.approx(SF_TREE["leaf_weight"], abs=1e-9)


@pytest.mark.parametrize("after", ["none", "predict", "reveal"])
def test_isthmus_active_with_secretflow_passive_grpc(
    tmp_path: Path, data: Path, after: str
) -> None:
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    theirs = start_secretflow(
        1, data, tmp_path / "sf1", ["--link", "grpc", "--addrs", addresses], ["--after", after]
    )
    params = {**TRAIN, "after": after, "link_addresses": addresses}
    if after == "reveal":  # SecretFlow's stock runner: labels to the passive party
        params["allow_plaintext_label_reveal"] = "true"
    ours = start_isthmus(tmp_path, data, "guest.0", params, {})
    report, their = finish(ours, theirs, tmp_path / "sf1")
    assert their["ok"] is True and their["trees"] == 1
    assert report["trees"] == 1
    if after == "reveal":  # the passive party computed the AUC from what we revealed
        assert their["auc"] == pytest.approx(SF_AUC_1_ROUND_DEPTH_3, abs=1e-6)
        assert report["auc"] == pytest.approx(SF_AUC_1_ROUND_DEPTH_3, abs=1e-6)
    elif after == "predict":
        assert report["auc"] == pytest.approx(SF_AUC_1_ROUND_DEPTH_3, abs=1e-6)
    else:
        assert report["auc"] is None
    model = json.loads((tmp_path / "storage" / "out" / "model" / "data_0").read_text())
    assert_same_tree_as_secretflow(model)


def test_isthmus_active_with_secretflow_passive_blackbox_through_two_nodes(
    tmp_path: Path, data: Path
) -> None:
    """The BFIA transport: SecretFlow pushes/pops on node B's transport, we on node A's;
    the nodes relay between them (SecretFlow numbers and ACKs its messages there)."""
    with ProcessCluster() as cluster:
        node_a, node_b = cluster.start(2)
        cluster.connect(node_a, node_b)
        for node, other in ((node_a, node_b), (node_b, node_a)):
            node.admin.post(
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
            )
        theirs = start_secretflow(
            1, data, tmp_path / "sf1",
            ["--link", "blackbox", "--transport", node_b.config.transport_address,
             "--node-ids", f"{node_a.node_id},{node_b.node_id}", "--session", SESSION,
             "--token", TOKEN],
            ["--after", "predict"],
        )  # fmt: skip
        extra = {
            "system.transport": node_a.config.transport_address,
            "config.node_id.guest.0": node_a.node_id,
            "config.node_id.host.0": node_b.node_id,
        }
        ours = start_isthmus(tmp_path, data, "guest.0", {**TRAIN, "after": "predict"}, extra)
        report, their = finish(ours, theirs, tmp_path / "sf1")
    assert their["ok"] is True and report["trees"] == 1
    assert report["auc"] == pytest.approx(SF_AUC_1_ROUND_DEPTH_3, abs=1e-6)
    model = json.loads((tmp_path / "storage" / "out" / "model" / "data_0").read_text())
    assert_same_tree_as_secretflow(model)


#: SecretFlow with two passive parties (gen_sgb_data.py --parties 3: 10 features each),
#: 2 rounds, depth 3, bucket_eps 0.1, 1024 bits: rank 0's AUC.
SF_AUC_3_PARTIES_2_ROUNDS = 0.991246


def test_isthmus_active_with_two_secretflow_passive_parties(tmp_path: Path) -> None:
    """Any number of passive parties: SecretFlow's passive parties also talk to each
    other (shapes, bucket counts); each gets from us the sequence a SecretFlow active
    party sends it, and SecretFlow<->SecretFlow's AUC comes out."""
    data = tmp_path / "data3"
    script = shared_root() / "peers" / "gen_sgb_data.py"
    subprocess.run(
        [str(peer_python()), str(script), "--out-dir", str(data), "--parties", "3"],
        check=True, capture_output=True,
    )  # fmt: skip
    ports = [free_port() for _ in range(3)]
    addresses = ",".join(f"127.0.0.1:{p}" for p in ports)
    theirs = [
        start_secretflow(r, data, tmp_path / f"sf{r}", ["--link", "grpc", "--addrs", addresses],
                         ["--after", "predict"])
        for r in (1, 2)
    ]  # fmt: skip
    params = {**TRAIN, "num_round": "2", "after": "predict", "link_addresses": addresses}
    ours = start_isthmus(tmp_path, data, "guest.0", params, {}, parties=3)
    try:
        report, their = finish(ours, theirs[0], tmp_path / "sf1")
        other_out, _ = theirs[1].communicate(timeout=240)
    finally:
        if theirs[1].poll() is None:
            theirs[1].kill()
    other = json.loads([line for line in other_out.splitlines() if line.startswith("{")][-1])
    assert their["ok"] is True and other["ok"] is True, tmp_path / "sf2" / "stderr.log"
    assert report["trees"] == 2 and report["passive_features"] == {"1": 10, "2": 10}
    assert report["auc"] == pytest.approx(SF_AUC_3_PARTIES_2_ROUNDS, abs=1e-6)
