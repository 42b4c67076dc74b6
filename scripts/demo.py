"""`make demo`: a bank and a fintech compute together, from nothing, as operators would.

Under ./demo-run: two node homes (a bank holding labels, a fintech holding features),
synthetic data generated reproducibly (seed 7), then every step with the real CLI:
node contract; datasets registered (the bank's CSV, the fintech's Parquet) and the
fintech's published; the bank asks for the fintech's dataset and for a project, the
fintech's operator approves both; the bank's job (ECDH-PSI, then a train/test split and
summary statistics in parallel, then column selection) runs with progress shown; then
the results, the audit trails and where everything is.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("ISTHMUS_DEMO_DIR") or ROOT / "demo-run").resolve()
#: ``make demo KEEP=1``: leave the nodes running at the end and print the console's link.
KEEP = os.environ.get("ISTHMUS_DEMO_KEEP", "").strip() not in ("", "0")
sys.path.insert(0, str(ROOT / "src"))

from isthmus.testing import free_port  # noqa: E402 - after the path is set


def step(text: str) -> None:
    if sys.stdout.isatty():
        print(f"\n\033[1;36m==> {text}\033[0m", flush=True)
    else:
        print(f"\n==> {text}", flush=True)


def isthmus(*args: str, show: bool = True, env: dict[str, str] | None = None) -> str:
    command = [sys.executable, "-m", "isthmus", *args]
    if show:
        print("$ isthmus " + " ".join(args), flush=True)
    result = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env} if env else None,
    )
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed: isthmus {' '.join(args)}")
    if show:
        print(result.stdout.rstrip(), flush=True)
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(isthmus(*args, "--json", show=False))


BANK, FINTECH = "JG0100001100000010", "JG0100002800000010"
TTP = "JG0100003300000010"


def synthetic_data(bank: Path, fintech: Path) -> tuple[Path, Path]:
    """2 000 bank customers with a default label, 2 500 fintech users with features;
    1 500 people are customers of both. Seeded: every run makes the same data.

    For the shared customers the default depends on the fintech's features (a high debt
    ratio, a low income, youth) and a little on the bank's tenure, so a model trained
    jointly has something to find that neither side could find alone."""
    rng = random.Random(7)
    bank_ids = [f"u{i:05d}" for i in range(0, 2000)]
    fintech_ids = [f"u{i:05d}" for i in range(500, 3000)]
    import pyarrow as pa
    import pyarrow.parquet as pq

    shuffled = rng.sample(fintech_ids, len(fintech_ids))
    income = {i: round(rng.lognormvariate(9.5, 0.6), 2) for i in shuffled}
    age = {i: rng.randint(19, 75) for i in shuffled}
    debt_ratio = {i: round(rng.random() * 0.9, 4) for i in shuffled}
    table = pa.table(
        {
            "id": shuffled,
            "income": [income[i] for i in shuffled],
            "age": [age[i] for i in shuffled],
            "debt_ratio": [debt_ratio[i] for i in shuffled],
        }
    )
    features = fintech / "data" / "sources" / "features.parquet"
    features.parent.mkdir(parents=True)
    pq.write_table(table, features)

    def default_probability(customer: str, tenure: int) -> float:
        if customer not in income:  # not a fintech user: the portfolio's base rate
            return 0.12
        score = (
            -2.4
            + 4.0 * (debt_ratio[customer] - 0.45)
            - 1.2 * (math.log(income[customer]) - 9.5)
            - 0.03 * (age[customer] - 47)
            - 0.02 * (tenure - 15)
        )
        return 1.0 / (1.0 + math.exp(-score))

    labels = bank / "data" / "sources" / "customers.csv"
    labels.parent.mkdir(parents=True)
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "tenure_years", "default"])
        for i in rng.sample(bank_ids, len(bank_ids)):
            tenure = rng.randint(0, 30)
            writer.writerow([i, tenure, int(rng.random() < default_probability(i, tenure))])
    return labels, features


def job_document(model: str = "sgb", ttp_host: str = "") -> dict[str, Any]:
    """The bank's job; ``model`` ``sgb`` (SecureBoost) or ``ss_lr`` (secret-sharing
    logistic regression, triples from the Beaver service at ``ttp_host``)."""

    def part(
        name: str, kind: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]
    ) -> dict[str, Any]:
        return {"name": name, "componentName": kind, "provider": "isthmus", "version": "0.1.0",
                "input": [{"key": k, "type": t} for k, t in inputs],
                "output": [{"key": k, "type": t} for k, t in outputs]}  # fmt: skip

    models = {
        "sgb": [
            part(
                "sgb_0",
                "sgb",
                [("split_0.train_data", "training_set")],
                [("model", "model"), ("report", "report")],
            ),
            part(
                "predict_0",
                "sgb_predict",
                [("sgb_0.model", "model"), ("split_0.test_data", "test_set")],
                [("predictions", "dataset")],
            ),
        ],
        "ss_lr": [
            part(
                "sslr_0",
                "ss_lr",
                [("split_0.train_data", "training_set")],
                [("model", "model"), ("weights_share", "model")],
            ),
            part(
                "predict_0",
                "ss_lr_predict",
                [("sslr_0.model", "model"), ("split_0.test_data", "test_set")],
                [("result", "dataset")],
            ),
        ],
    }
    scored = {"sgb": "predict_0.predictions", "ss_lr": "predict_0.result"}
    document = {
        "flow_id": "credit-scoring",
        "dag": {"version": "2.0", "components": [
            part("psi_0", "ecdh_psi", [], [("train_data", "dataset")]),
            part("split_0", "data_split", [("psi_0.train_data", "dataset")],
                 [("train_data", "training_set"), ("test_data", "test_set")]),
            part("stats_0", "summary_stats", [("psi_0.train_data", "dataset")],
                 [("report", "report")]),
            part("select_0", "column_select", [("split_0.train_data", "training_set")],
                 [("data", "dataset")]),
            *models[model],
            part("eval_0", "evaluate", [(scored[model], "dataset")],
                 [("report", "report"), ("roc_plot", "report"), ("ks_plot", "report"),
                  ("lift_plot", "report"), ("score_plot", "report")]),
        ]},
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": BANK},
            "role": {"guest": [BANK], "host": [FINTECH]},
            "job_params": {"common": {"sync_type": "callback"}},
            "task_params": {
                "common": {
                    "psi_0": {"field_names": "id"},
                    "split_0": {"key_field": "id", "test_ratio": 0.2, "seed": 7},
                    "sgb_0": {"num_round": 3, "max_depth": 3, "bucket_eps": 0.1,
                              "key_bits": 2048, "label_col": "default"},
                    "sslr_0": {"label_owner": "guest.0", "label_col": "default",
                               "standardize": True, "num_epoch": 3, "batch_size": 64,
                               "learning_rate": 0.5, "use_ttp": True,
                               "ttp_server_host": ttp_host},
                    "predict_0": {"label_col": "default"} if model == "sgb" else {},
                    "eval_0": {"label_col": "default", "score_col": "score"},
                },
                "guest": {"0": {"psi_0": {"dataset_id": "bank#customers"},
                                "select_0": {"columns": "id,tenure_years,default"}}},
                "host": {"0": {"psi_0": {"dataset_id": "fintech#features"},
                               "select_0": {"columns": "id,income,age,debt_ratio"}}},
            },
        },
    }  # fmt: skip
    document["config"]["task_params"]["common"].pop("sslr_0" if model == "sgb" else "sgb_0")
    return document


def wait_for(what: str, check: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.2)


def lines(path: Path) -> int:
    with open(path) as f:
        return sum(1 for _ in f) - 1


def main() -> None:
    if RUN.exists():
        for home in RUN.iterdir():
            if (home / "run" / "node.pid").exists():
                isthmus("node", "stop", "--home", str(home), show=False)
        shutil.rmtree(RUN)
    bank, fintech, ttp = RUN / "bank", RUN / "fintech", RUN / "beaver"

    step("1. Each institution initialises its node (key pair, config, admin token)")
    for home, node_id, inst, name, suite in (
        (bank, BANK, "JG0100001100000000", "Demo Bank", "ED25519"),
        (fintech, FINTECH, "JG0100002800000000", "Demo Fintech", "SM2_SM3"),
    ):
        isthmus("init", "--home", str(home), "--node-id", node_id, "--inst-id", inst,
                "--name", name, "--institution", f"{name} Co., Ltd.", "--auth-type", suite,
                "--interconn-port", str(free_port()), "--admin-port", str(free_port()),
                "--transport-port", str(free_port()))  # fmt: skip

    # A third operator runs the PPCA Beaver triple service for the SS-LR model (a trusted
    # third party that computes nothing itself): its gRPC face on, [beaver] enabled.
    ttp_port = free_port()
    isthmus("init", "--home", str(ttp), "--node-id", TTP, "--inst-id", "JG0100003300000000",
            "--name", "Demo Beaver", "--institution", "Demo Beaver TTP Co., Ltd.",
            "--interconn-port", str(ttp_port), "--admin-port", str(free_port()),
            "--transport-port", str(free_port()), "--grpc", show=False)  # fmt: skip

    step("2. Both nodes start (and a third party's Beaver triple service)")
    isthmus("node", "start", "--home", str(bank), "--detach")
    isthmus("node", "start", "--home", str(fintech), "--detach")
    isthmus("node", "start", "--home", str(ttp), "--detach",
            env={"ISTHMUS_BEAVER__ENABLED": "true"})  # fmt: skip
    finished = False
    try:
        run_demo(bank, fintech, f"127.0.0.1:{ttp_port + 3}")
        finished = True
    finally:
        if finished and KEEP:
            keep_running(bank, fintech, ttp)
        else:
            stop_nodes(bank, fintech, ttp)


def keep_running(bank: Path, fintech: Path, ttp: Path) -> None:
    """``KEEP=1``: the nodes stay up; the operator console of each institution, with a
    one-time sign-in link (10 minutes, works once; ``isthmus console`` makes another)."""
    step("The operator console (the nodes keep running)")
    for home in (bank, fintech):
        isthmus("console", "--home", str(home))
    print("stop them with:")
    for home in (bank, fintech, ttp):
        print(f"  isthmus node stop --home {home}")


def stop_nodes(*homes: Path) -> None:
    step("Stopping the nodes (their homes stay in ./demo-run)")
    for home in homes:
        subprocess.run(
            [sys.executable, "-m", "isthmus", "node", "stop", "--home", str(home)],
            check=False,
            timeout=60,
        )


def run_demo(bank: Path, fintech: Path, ttp_host: str) -> None:
    b, f = ["--home", str(bank)], ["--home", str(fintech)]
    fintech_address = as_json("node", "status", *f)["address"]

    step("3. Node contract: the bank applies, the fintech's operator approves")
    isthmus("peer", "apply", *b, "--address", fintech_address)
    contract_id = as_json("peer", "list", *f, "--status", "APPLIED")[0]["contract_id"]
    isthmus("peer", "approve", *f, contract_id)
    wait_for("the contract", lambda: as_json("peer", "list", *b)[0]["status"] == "APPROVED")

    step("4. Synthetic data (seed 7): bank labels as CSV, fintech features as Parquet")
    labels, features = synthetic_data(bank, fintech)
    print(f"bank:    {labels}  (2 000 customers, label 'default')")
    print(f"fintech: {features}  (2 500 users; 1 500 are bank customers)")

    step("5. Each registers its data as a dataset; only metadata will ever leave")
    isthmus("dataset", "register", *b, "--namespace", "bank", "--name", "customers",
            "--csv", str(labels), "--join", "id", "--label", "default", "--private")  # fmt: skip
    isthmus("dataset", "register", *f, "--namespace", "fintech", "--name", "features",
            "--parquet", str(features), "--join", "id")  # fmt: skip

    step("6. The bank browses the fintech's published datasets (dataset/pub/list)")
    isthmus("dataset", "partner", *b, FINTECH)

    step("7. The bank asks for the dataset (one use) and for a project using it")
    isthmus("approval", "apply", *b, FINTECH, "fintech#features", "--times", "1", "--days", "7")
    isthmus("approval", "apply", *b, FINTECH, "credit-2026", "--type", "project",
            "--name", "Credit scoring 2026", "--dataset", "fintech#features")  # fmt: skip
    wait_for(
        "the requests to arrive", lambda: len(as_json("approval", "list", *f, "--pending")) == 2
    )

    step("8. The fintech's operator reviews and approves both; permits travel back")
    isthmus("approval", "list", *f, "--pending")
    for request in as_json("approval", "list", *f, "--pending"):
        isthmus("approval", "approve", *f, BANK, request["audit_id"])
    wait_for(
        "the approvals to reach the bank",
        lambda: all(a["status"] == "APPROVED" for a in as_json("approval", "list", *b)),
    )
    isthmus("approval", "list", *b)

    step("9. The bank runs the job: PSI, split and statistics, selection, then SecureBoost")
    job_file = RUN / "job.json"
    job_file.write_text(json.dumps(job_document(), indent=1))
    print(f"$ isthmus job submit --home {bank} {job_file}", flush=True)
    command = [sys.executable, "-m", "isthmus", "job", "submit", *b, str(job_file), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    print(done.stderr.rstrip(), flush=True)
    summary = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or summary.get("result") != "SUCCESS":
        print(done.stdout, file=sys.stderr)
        raise SystemExit("demo: the job did not succeed")
    job_id = summary["job_id"]
    tasks = {t["task_name"]: t["task_id"] for t in summary["tasks"]}

    step("10. Results (the bank's side; the fintech's mirror them row for row)")
    out = bank / "data" / f"{job_id}-guest-0"
    psi = out / f"{tasks['psi_0']}-train_data" / "data_0"
    train = out / f"{tasks['split_0']}-train_data" / "data_0"
    test = out / f"{tasks['split_0']}-test_data" / "data_0"
    selected = out / f"{tasks['select_0']}-data" / "data_0"
    report = json.loads((out / f"{tasks['stats_0']}-report" / "data_0").read_text())
    print(f"customers in both institutions (PSI):   {lines(psi)}")
    print(f"training / test rows (same on both):    {lines(train)} / {lines(test)}")
    default = report["columns"]["default"]
    print(f"default rate among them (bank's stats): {default['mean']:.3f}")
    print(f"training table for the bank:            {selected}")
    fintech_selected = (
        fintech / "data" / f"{job_id}-host-0" / f"{tasks['select_0']}-data" / "data_0"
    )
    with open(fintech_selected) as handle:
        print(f"the fintech's training columns:         {handle.readline().strip()}")
    evaluation = out / f"{tasks['eval_0']}-report" / "data_0"
    metrics = json.loads(evaluation.read_text())["metrics"]
    roc = out / f"{tasks['eval_0']}-roc_plot" / "data_0"
    print("SecureBoost, 3 trees of depth 3, trained on the bank's labels and the fintech's")
    print("features under 2048-bit Paillier; scored on the test split by the bank:")
    print(f"  AUC {metrics['auc']:.3f}   KS {metrics['ks']:.3f}   (report: {evaluation})")
    print(f"  ROC curve (PNG):                      {roc}")
    print(f"  or: isthmus job output --home {bank} {job_id} eval_0")

    step("11. The project is revoked: one more run on the one-use dataset permit, then no more;")
    print("    that run trains the other model: SS-LR on secret shares, Beaver triples from the")
    print("    third party's service", flush=True)
    sslr_file = RUN / "job-ss-lr.json"
    sslr_file.write_text(json.dumps(job_document("ss_lr", ttp_host), indent=1))
    project = next(a for a in as_json("approval", "list", *f) if a["resource_type"] == "PROJECT")
    isthmus("approval", "revoke", *f, BANK, project["audit_id"], "--reason", "project closed")
    wait_for(
        "the bank to learn of it",
        lambda: any(a["status"] == "TERMINATED" for a in as_json("approval", "list", *b)),
    )
    for attempt, expected in (("second", 0), ("third", 1)):
        print(f"$ isthmus job submit --home {bank} {sslr_file}   # {attempt} run", flush=True)
        command = [sys.executable, "-m", "isthmus", "job", "submit", *b, str(sslr_file)]
        command += ["--json"] if expected == 0 else []
        again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if again.returncode == 0 and expected == 0:
            second = json.loads(again.stdout)
            print(f"job {second['job_id']}: {second['result']}", flush=True)
            eval_id = next(t["task_id"] for t in second["tasks"] if t["task_name"] == "eval_0")
            report = bank / "data" / f"{second['job_id']}-guest-0" / f"{eval_id}-report"
            sslr = json.loads((report / "data_0").read_text())["metrics"]
            print("SS-LR (semi2k, ring 2^64, 18 fraction bits), 3 epochs; each party learns only")
            print("its own features' weights; scored on the test split by the bank:")
            print(f"  AUC {sslr['auc']:.3f}   KS {sslr['ks']:.3f}")
        else:
            said = (again.stdout.strip() or again.stderr.strip()).splitlines()[-1]
            print(said, flush=True)
        if again.returncode != expected:
            raise SystemExit(
                f"demo: the {attempt} run should have {'failed' if expected else 'run'}"
            )

    step("12. The jobs as each node lists them: what each came to, when, and why not")
    ended = {"SUCCESS", "FAILED", "STOPPED", "REJECTED"}
    for home in (b, f):  # the fintech learns each result from the bank, its scheduler
        wait_for(
            "every job to show how it ended",
            lambda home=home: {j["status"] for j in as_json("job", "list", *home)} <= ended,
        )
        isthmus("job", "list", *home)
    listed = as_json("job", "list", *f)
    if next(j for j in listed if j["job_id"] == job_id)["status"] != "SUCCESS":
        raise SystemExit("demo: the fintech does not list the first job as SUCCESS")

    step("13. The fintech's audit trail: who registered, who asked, who approved, each use")
    isthmus("audit", "list", *f)
    isthmus("audit", "verify", *f)

    step("Done")
    print(f"first job {job_id}: {summary['result']}")
    print(f"node homes:   {bank}  {fintech}")
    print(f"task outputs: <home>/data/{job_id}-<role>-0/")
    print(f"task logs:    <home>/jobs/{job_id}/<task>/<role>.0.log")
    print("node logs:    <home>/logs/node.log")


if __name__ == "__main__":
    main()
