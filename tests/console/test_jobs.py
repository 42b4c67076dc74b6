"""The Jobs pages through a real browser, on one two-node cluster: an operator submits a
two-party job through the form and watches it go from RUNNING to SUCCESS on the graph
without a reload; a failed job shows why in plain words; a bad DAG's problems show
against the field they name; an auditor sees no stop button and a forged stop is
refused (403), as is a stop without the CSRF token, and nothing stops."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from isthmus.testing.jobs import submit, wait_finished
from tests.console.conftest import ConsoleCluster, assert_accessible, sign_in_as
from tests.scheduler.jobs_support import offer, psi_pipeline, write_dataset

expect = pytest.importorskip("playwright.sync_api").expect
SignIn = Callable[[Any, Any, str], str]
SLOW_MS = 90_000  # the longest wait for a job's end (never a timing assertion)

# Records every class the job's status shows, from the page's first paint: a
# MutationObserver installed by the test through the browser's devtools protocol.
_WATCH = """() => {
  const el = document.querySelector('[data-job-status]');
  window.__seen = [el.getAttribute('class')];
  window.__sameDocument = true;
  new MutationObserver(() => window.__seen.push(el.getAttribute('class')))
    .observe(el, {attributes: true, attributeFilter: ['class']});
}"""


@pytest.fixture(scope="module")
def jobs(console_cluster: ConsoleCluster) -> Iterator[ConsoleCluster]:
    a, b = console_cluster.a, console_cluster.b
    write_dataset(a, "guest.csv", list(range(0, 300)), "x")
    write_dataset(b, "host.csv", list(range(100, 500)), "y")
    offer(b, a, "host.csv")
    yield console_cluster


@pytest.fixture(scope="module")
def failed_job(jobs: ConsoleCluster) -> str:
    job = psi_pipeline(jobs.a.node_id, jobs.b.node_id)
    job["config"]["task_params"]["host"]["0"]["psi_0"]["field_names"] = "no_such_column"
    job_id = submit(jobs.a, job)
    assert wait_finished(jobs.a, job_id, timeout_s=90)["result"] == "FAILED"
    return job_id


def test_a_job_goes_from_running_to_success_on_the_graph_without_reloading(
    page: Any, browser: Any, jobs: ConsoleCluster, sign_in: SignIn, shoot: Any
) -> None:
    a, b = jobs.a, jobs.b
    sign_in(page, a, "operator")
    page.goto(jobs.url(a, "/console/jobs/new"))
    assert_accessible(page)
    page.fill("#job-dag", json.dumps(psi_pipeline(a.node_id, b.node_id)))
    page.click("form.job-form button[type=submit]")
    page.wait_for_url(re.compile(r"/console/jobs/job-[0-9a-f]+$"))
    page.evaluate(_WATCH)
    job_id = page.url.rsplit("/", 1)[1]
    rendered_running = page.locator("#job-live").get_attribute("data-ended") == "no"

    # an auditor, at the same moment: no stop button; a forged stop is refused
    auditor = browser.new_context(locale="en-US").new_page()
    auditor.context.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    try:
        sign_in_as(auditor, jobs, a, "auditor")
        auditor.goto(jobs.url(a, f"/console/jobs/{job_id}"))
        expect(auditor.locator("svg.dag")).to_be_visible()
        expect(auditor.locator("form[data-stop]")).to_have_count(0)
        csrf = auditor.locator('meta[name="csrf-token"]').get_attribute("content")
        forged = auditor.request.post(
            jobs.url(a, f"/console/jobs/{job_id}/stop"), form={"csrf": csrf}
        )
        assert forged.status == 403
    finally:
        auditor.context.close()
    if rendered_running:  # the operator was offered the stop, while it ran
        assert page.locator("form[data-stop]").count() >= 1
    no_csrf = page.request.post(jobs.url(a, f"/console/jobs/{job_id}/stop"), form={})
    assert no_csrf.status == 403

    status = page.locator("[data-job-status]")
    expect(status).to_have_class(re.compile(r"\bstate-SUCCESS\b"), timeout=SLOW_MS)
    for name in ("psi_0", "stats_0", "split_0", "select_0"):
        box = page.locator(f'svg.dag [data-task="{name}"]')
        expect(box).to_have_class(re.compile(r"\bstate-SUCCESS\b"))
        expect(box.locator("[data-task-status]")).to_have_text("succeeded")
    expect(page.locator('[data-party^="psi_0|"]')).to_have_text(["succeeded", "succeeded"])
    # task ids learned live: the id cells filled and each task's log offered
    expect(page.locator('[data-task-id-of="select_0"]')).to_have_text([f"{job_id}_select_0"] * 2)
    expect(page.locator('[data-log-for="select_0"] a')).to_have_count(1)
    seen = page.evaluate("window.__seen")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    assert any("state-RUNNING" in c for c in seen) and "state-SUCCESS" in seen[-1], seen
    expect(page.locator("#why")).to_be_hidden()
    assert_accessible(page)
    shoot(page, "job")

    # the list, filtered, and the task's log (tail, then followed)
    page.goto(jobs.url(a, f"/console/jobs?status=SUCCESS&initiator={a.node_id}"))
    expect(page.locator(f'a[href="/console/jobs/{job_id}"]')).to_be_visible()
    assert_accessible(page)
    shoot(page, "jobs")
    page.goto(jobs.url(a, "/console/jobs?status=FAILED&since=2999-01-01"))
    expect(page.locator(f'a[href="/console/jobs/{job_id}"]')).to_have_count(0)
    page.goto(jobs.url(a, f"/console/jobs/{job_id}"))
    page.locator("table.parties a", has_text="Log").first.click()
    expect(page.locator("[data-log]")).not_to_be_empty()
    page.click("button[data-follow]")
    expect(page.locator("button[data-follow]")).to_be_disabled()
    expect(page.locator("[data-log]")).not_to_be_empty()


def test_a_failed_job_shows_why_in_plain_words(
    page: Any, jobs: ConsoleCluster, failed_job: str, sign_in: SignIn, shoot: Any
) -> None:
    sign_in(page, jobs.a, "auditor")
    page.goto(jobs.url(jobs.a, f"/console/jobs/{failed_job}"))
    why = page.locator("#why")
    expect(why).to_be_visible()
    expect(why.locator(".failure")).to_contain_text(
        f"Task psi_0 failed on node {jobs.b.node_id} (as host): exit 65 (parameter error)"
    )
    expect(why.locator(".log-tail")).to_contain_text("no_such_column")
    expect(page.locator('svg.dag [data-task="psi_0"]')).to_have_class(re.compile("state-FAILED"))
    expect(page.locator('svg.dag [data-task="select_0"]')).to_have_class(
        re.compile("state-STOPPED")
    )
    expect(page.locator("form[data-stop]")).to_have_count(0)
    assert_accessible(page)
    shoot(page, "job-failed")
    page.select_option("#lang-select", "zh-CN")
    page.locator("#lang-select ~ button[type=submit]").click()
    expect(page.locator("#why h2")).to_have_text("失败原因")
    expect(why.locator(".failure")).to_contain_text(f"任务 psi_0 在节点 {jobs.b.node_id}")
    expect(page.locator('svg.dag [data-task="psi_0"] [data-task-status]')).to_have_text("失败")


def _cyclic(job: dict[str, Any]) -> None:
    job["dag"]["components"][0]["input"] = [{"key": "select_0.data", "type": "dataset"}]


def _unknown(job: dict[str, Any]) -> None:
    job["dag"]["components"][1]["componentName"] = "no_such_component"


def _bad_ratio(job: dict[str, Any]) -> None:
    job["config"]["task_params"]["common"]["split_0"]["test_ratio"] = 2


@pytest.mark.parametrize(
    ("mutate", "field", "said"),
    [
        (_cyclic, "dag", "inputs form a cycle"),
        (_unknown, "dag", "dag.components[1].componentName: no_such_component"),
        (_bad_ratio, "config", "config.task_params.common.split_0.test_ratio"),
    ],
    ids=["cycle", "unknown-component", "bad-parameter"],
)
def test_a_bad_job_is_refused_against_the_field_it_names(
    page: Any,
    jobs: ConsoleCluster,
    sign_in: SignIn,
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    said: str,
) -> None:
    a, b = jobs.a, jobs.b
    sign_in(page, a, "operator")
    page.goto(jobs.url(a, "/console/jobs/new"))
    job = psi_pipeline(a.node_id, b.node_id)
    mutate(job)
    page.fill("#job-dag", json.dumps(job["dag"]))
    page.fill("#job-config", json.dumps(job["config"]))
    page.click("form.job-form button[type=submit]")
    expect(page.locator(f"#err-{field}")).to_contain_text(said)
    expect(page.locator(f"#job-{field}")).to_have_attribute("aria-invalid", "true")
    assert json.loads(page.locator("#job-dag").input_value()) == job["dag"]  # kept to fix
    other = "config" if field == "dag" else "dag"
    expect(page.locator(f"#err-{other}")).to_have_count(0)


def test_text_that_is_not_json_is_named_and_an_auditor_may_not_submit(
    page: Any, jobs: ConsoleCluster, sign_in: SignIn
) -> None:
    sign_in(page, jobs.a, "operator")
    page.goto(jobs.url(jobs.a, "/console/jobs/new"))
    page.fill("#job-dag", "{}")
    page.fill("#job-config", "{not json")
    page.click("form.job-form button[type=submit]")
    expect(page.locator("#err-config")).to_contain_text("not JSON")
    page.context.clear_cookies()
    sign_in(page, jobs.a, "auditor")
    page.goto(jobs.url(jobs.a, "/console/jobs/new"))
    expect(page.locator("form.job-form")).to_have_count(0)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    body = {"csrf": csrf, "dag": "{}", "config": "{}"}
    assert page.request.post(jobs.url(jobs.a, "/console/jobs/new"), form=body).status == 403


def test_an_operator_stops_a_running_job_from_its_page(
    page: Any, jobs: ConsoleCluster, sign_in: SignIn
) -> None:
    a, b = jobs.a, jobs.b
    if not (a.home / "data" / "demo" / "slow_guest.csv").exists():  # a PSI of some seconds
        write_dataset(a, "slow_guest.csv", list(range(0, 40_000)), "x")
        write_dataset(b, "slow_host.csv", list(range(20_000, 60_000)), "y")
        offer(b, a, "slow_host.csv")
    job = psi_pipeline(a.node_id, b.node_id)
    params = job["config"]["task_params"]
    params["guest"]["0"]["psi_0"]["name"] = "slow_guest.csv"
    params["host"]["0"]["psi_0"]["name"] = "slow_host.csv"
    sign_in(page, a, "operator")
    job_id = submit(a, job)
    page.goto(jobs.url(a, f"/console/jobs/{job_id}"))
    page.once("dialog", lambda dialog: dialog.accept())  # "Stop this job on every party?"
    page.locator("form[data-stop]:not(:has(input[name=task_name])) button").click()
    expect(page.locator(".flash")).to_have_text("Stop of the job requested.")
    status = page.locator("[data-job-status]")
    expect(status).to_have_class(re.compile(r"\bstate-STOPPED\b"), timeout=SLOW_MS)
    expect(page.locator('svg.dag [data-task="select_0"]')).to_have_class(
        re.compile(r"\bstate-STOPPED\b")
    )
