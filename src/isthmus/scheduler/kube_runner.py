"""The Kubernetes runner: a task's party as a ``batch/v1`` Job.

It submits the Job to the API server (a retried start finds it already there: 409 is
success), reads its status, deletes it with its pods to stop it, and copies the pod's
log to the task's log at the end. The handle is the Job's name and the log path, so a
restarted node finds its runs again. The API server is reached with the pod's service
account or an explicit URL and token (``KubernetesApi``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from isthmus.scheduler.container_specs import kubernetes_job
from isthmus.scheduler.runners import Handle, Outcome, RunnerError, TaskRun
from isthmus.wire.status import Status


@dataclass(frozen=True)
class KubernetesApi:
    """Where the API server is and how to authenticate: in a pod, the service account
    (``from_service_account``); elsewhere, an explicit URL and token."""

    url: str
    token: str
    namespace: str = "default"
    ca_file: str | None = None

    @classmethod
    def from_service_account(
        cls, root: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    ) -> KubernetesApi:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise RunnerError("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set")
        return cls(
            url=f"https://{host}:{port}",
            token=(root / "token").read_text().strip(),
            namespace=(root / "namespace").read_text().strip(),
            ca_file=str(root / "ca.crt"),
        )


class KubernetesRunner:
    name = "kubernetes"

    def __init__(
        self,
        api: KubernetesApi,
        *,
        transport: httpx.BaseTransport | None = None,
        ttl_s: int = 3600,
    ) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self._http = httpx.Client(
            base_url=api.url,
            headers={"authorization": f"Bearer {api.token}"},
            verify=api.ca_file or True,
            timeout=30.0,
            transport=transport,
        )

    def _jobs(self) -> str:
        return f"/apis/batch/v1/namespaces/{self.api.namespace}/jobs"

    def start(self, run: TaskRun) -> Handle:
        if not run.image:
            raise RunnerError(f"task {run.task_id}: the kubernetes runner needs an image URL")
        manifest = kubernetes_job(
            run.task_id,
            run.image,
            run.env,
            run.resources,
            namespace=self.api.namespace,
            deadline_s=run.deadline_s,
            ttl_s=self.ttl_s,
        )
        response = self._request("POST", self._jobs(), json=manifest)
        if response.status_code == 409:  # already submitted (a retried start)
            return {"job": manifest["metadata"]["name"], "log_path": str(run.log_path)}
        self._check(response, "create Job")
        return {"job": manifest["metadata"]["name"], "log_path": str(run.log_path)}

    def status(self, handle: Handle) -> Outcome:
        response = self._request("GET", f"{self._jobs()}/{handle['job']}")
        if response.status_code == 404:
            return Outcome(Status.FAILED, None, f"Kubernetes Job {handle['job']} is gone")
        self._check(response, "read Job")
        status = response.json().get("status", {})
        if status.get("succeeded"):
            return Outcome(Status.SUCCESS, 0)
        if status.get("failed"):
            reasons = [c.get("message") or c.get("reason") for c in status.get("conditions", [])]
            return Outcome(Status.FAILED, None, "; ".join(r for r in reasons if r) or "pod failed")
        return Outcome(Status.RUNNING)

    def release(self, handle: Handle) -> None:
        """Copy the pod's log; the Job itself goes with its TTL."""
        self._collect(handle)

    def stop(self, handle: Handle, grace_s: float = 5.0) -> None:
        self._collect(handle)
        response = self._request(
            "DELETE",
            f"{self._jobs()}/{handle['job']}",
            json={"propagationPolicy": "Background", "gracePeriodSeconds": int(grace_s)},
        )
        if response.status_code != 404:
            self._check(response, "delete Job")

    def _collect(self, handle: Handle) -> None:
        """Copy the pod's log to the task's log file (best effort)."""
        pods = self._request(
            "GET",
            f"/api/v1/namespaces/{self.api.namespace}/pods",
            params={"labelSelector": f"job-name={handle['job']}"},
        )
        if pods.status_code != 200:
            return
        items = pods.json().get("items", [])
        if not items:
            return
        name = items[0]["metadata"]["name"]
        log = self._request("GET", f"/api/v1/namespaces/{self.api.namespace}/pods/{name}/log")
        if log.status_code == 200:
            path = Path(handle["log_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(log.text)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RunnerError(f"Kubernetes API {method} {path}: {exc}") from exc

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.status_code >= 300:
            try:
                message = json.loads(response.text).get("message", response.text)
            except ValueError:
                message = response.text
            raise RunnerError(f"Kubernetes API: cannot {what}: {str(message)[:300]}")
