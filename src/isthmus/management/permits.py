"""The gate a job passes on this node before anything of it runs (at ``job/create``).

For every task of ours that reads one of our datasets (``dataset_id``, or ``namespace``
+ ``name``) or uses one of our models (``model_id``):

* the dataset must be registered, and its source still have the registered columns
  (a drifted source is refused whoever initiated the job);
* when another node initiated the job, the request must carry, in
  ``x-mprac-token-set``, a live permit this node granted to that initiator for that
  dataset (or for a project listing it) or that model. Data that is not registered is
  not offered at all.

Each permit the job needs is counted once per job, all in one transaction, after every
check passed: a refused job uses nothing, and of two concurrent jobs on a one-time
permit exactly one gets through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from isthmus.components.env import dataset_table
from isthmus.crypto import load_public_key
from isthmus.management.approvals import INBOUND, ApprovalService
from isthmus.management.datasets import DatasetDrift, DatasetService, dataset_id
from isthmus.peer.signing import job_statement, verify_signature
from isthmus.store.db import Store
from isthmus.store.permits import Refusal
from isthmus.store.schema import AuditRow, PermitRow
from isthmus.wire.dag import InvalidJob, Job, Problem
from isthmus.wire.errors import ValidationFailed
from isthmus.wire.management import AuditStatus
from isthmus.wire.mprac import ResourceType, TokenRef, format_token_set, urn

Resource = tuple[str, str]  # (type, id)


def dataset_of(params: dict[str, Any], where: str = "task_params") -> tuple[str, str] | None:
    """The (key, dataset id) a task's parameters read: the table
    ``components.env.dataset_table`` resolves, which is also the one the task's
    environment names (contradictory references raise ``ValidationFailed``)."""
    table = dataset_table(params, where)
    if table is None:
        return None
    key = "dataset_id" if params.get("dataset_id") else "name"
    return key, dataset_id(table.namespace, table.name)


def resource_uses(job: Job, node_id: str) -> list[tuple[str, Resource]]:
    """(field, resource) for every dataset and model of ``node_id`` that its parties'
    tasks in ``job`` read; ``InvalidJob`` if a task names its dataset in two ways that
    disagree (nothing is then checked or counted)."""
    found: list[tuple[str, Resource]] = []
    problems: list[Problem] = []
    for role, index, node in job.parties():
        if node != node_id:
            continue
        for component in job.components:
            params = job.task_parameters(component.name, role, index)
            where = f"config.task_params.{role}.{index}.{component.name}"
            try:
                dataset = dataset_of(params, where)
            except ValidationFailed as exc:
                problems.append(Problem(where, exc.message))
                continue
            if dataset is not None:
                key, value = dataset
                found.append((f"{where}.{key}", (ResourceType.DATASET.value, value)))
            if params.get("model_id"):
                model = (ResourceType.MODEL.value, str(params["model_id"]))
                found.append((f"{where}.model_id", model))
    if problems:
        raise InvalidJob(problems)
    return found


def approvals_needed(job: Job, require: frozenset[str]) -> list[tuple[str, Resource]]:
    """The job's own approvals a node's policy (``require``: flow, job) asks for."""
    needed: list[tuple[str, Resource]] = []
    if "flow" in require and job.flow_id:
        needed.append(("flow_id", (ResourceType.FLOW.value, job.flow_id)))
    if "job" in require and job.job_id:
        needed.append(("job_id", (ResourceType.JOB.value, job.job_id)))
    return needed


def lists_dataset(project: AuditRow, dataset: str) -> bool:
    """Whether a project approval's request lists ``dataset``."""
    listed = json.loads(project.request).get("datasets", [])
    return dataset in {str(d.get("dataset_id")) for d in listed}


class PermitGate:
    def __init__(
        self,
        store: Store,
        datasets: DatasetService,
        node_id: str,
        *,
        require: frozenset[str] = frozenset(),
    ) -> None:
        self.store = store
        self.datasets = datasets
        self.node_id = node_id
        #: "flow" and/or "job": approvals partners' jobs need besides their data's.
        self.require = require

    def admit(
        self,
        job: Job,
        tokens: Sequence[TokenRef],
        *,
        caller: str = "",
        document: Mapping[str, Any] | None = None,
        initiator_sign: str = "",
        own_job: bool = False,
    ) -> None:
        """``own_job``: the job was submitted by this node's own operator (the
        participant knows it from its record of submissions, never from the job's
        claim of an initiator). Every other job, whoever it names as initiator, needs
        a permit for each of our datasets and models it reads."""
        uses = resource_uses(job, self.node_id)
        problems = self._registered(uses, own_job)
        mine = [t for t in tokens if t.owner_node_id == self.node_id]
        if not own_job and mine and caller != job.initiator_node:
            problems += self._vouched(job, document or {}, tokens, initiator_sign)
            if problems:
                raise InvalidJob(problems)
        if not own_job:
            problems += self._required(job)
            if not problems:
                uses += approvals_needed(job, self.require)
            problems += self._permitted(job, uses, tokens)
        if problems:
            raise InvalidJob(problems)

    def _vouched(
        self,
        job: Job,
        document: Mapping[str, Any],
        tokens: Sequence[TokenRef],
        initiator_sign: str,
    ) -> list[Problem]:
        """Permits relayed by a scheduler count only with the initiator's signed
        statement of this job and these permits: a scheduler cannot lift them onto a
        job of its own making."""
        field = "x-isthmus-initiator-sign"
        initiator = job.initiator_node
        if not initiator_sign:
            return [Problem(field, f"permits relayed without {initiator}'s signed statement")]
        with self.store.session() as s:
            contract = self.store.contracts.active_for_peer(s, initiator)
            credential = None if contract is None else contract.peer_auth_credential
            auth_type = None if contract is None else contract.peer_auth_type
        if not credential or not auth_type:
            return [Problem(field, f"no key of {initiator} to check its statement with")]
        statement = job_statement(
            job.job_id or "", initiator, document, format_token_set(list(tokens))
        )
        key = load_public_key(credential, auth_type)
        if not verify_signature(key, initiator_sign, statement):
            return [Problem(field, f"not {initiator}'s statement of this job and its permits")]
        return []

    def _required(self, job: Job) -> list[Problem]:
        if "flow" in self.require and not job.flow_id:
            return [
                Problem(
                    "flow_id", f"node {self.node_id} runs partners' jobs of approved flows only"
                )
            ]
        return []

    def _registered(self, uses: list[tuple[str, Resource]], own_job: bool) -> list[Problem]:
        problems = []
        for field, (kind, key) in uses:
            if kind != ResourceType.DATASET.value:
                continue
            row = self.datasets.get(key)
            if row is None:
                if not own_job:
                    problems.append(
                        Problem(field, f"{key} is not a dataset node {self.node_id} offers")
                    )
                continue
            try:
                self.datasets.check_drift(row)
            except DatasetDrift as exc:
                problems.append(Problem(field, exc.message))
        return problems

    def _permitted(
        self, job: Job, uses: list[tuple[str, Resource]], tokens: Sequence[TokenRef]
    ) -> list[Problem]:
        initiator = job.initiator_node
        mine = sorted(
            (t for t in tokens if t.owner_node_id == self.node_id), key=lambda t: -t.level
        )
        problems: list[Problem] = []
        # token hash: field, name, row, and the resources it is used for
        chosen: dict[str, tuple[str, str, PermitRow, list[str]]] = {}
        with self.store.session() as s:
            for field, resource in uses:
                if (
                    resource[0] == ResourceType.DATASET.value
                    and self.datasets.get(resource[1]) is None
                ):
                    continue  # refused above as not offered
                covers = {resource} | self._projects_listing(s, initiator, resource)
                found = self._choose(s, initiator, covers, mine)
                if isinstance(found, tuple):
                    entry = chosen.setdefault(found[1].token_sha256, (field, *found, []))
                    entry[3].append(f"{resource[0].lower()}:{resource[1]}")
                    continue
                what = f"{resource[0].lower()} {resource[1]}"
                if found:
                    problems.append(Problem(field, f"no valid permit for {what}: {found}"))
                else:
                    problems.append(
                        Problem(
                            field, f"{initiator} presented no permit of {self.node_id} for {what}"
                        )
                    )
        if problems:
            return problems
        # The uses in a transaction of their own, which starts with its first write: the
        # database serialises them, and each conditional UPDATE sees the latest count.
        with self.store.session() as s:
            for field, name, row, used_for in chosen.values():
                if not self.store.permits.use(s, row):
                    raise InvalidJob(
                        [Problem(field, f"permit {name} was used up by another request")]
                    )
                self.store.audit.append(
                    s,
                    actor=f"peer:{initiator}",
                    action="permit.used",
                    subject=f"{row.resource_type.lower()}:{row.resource_id}",
                    outcome="ok",
                    details={
                        "job_id": job.job_id or "",
                        "permit": name,
                        "for": used_for,
                        "audit_id": row.audit_id,
                        "use": row.times_used + 1,
                        "of": row.times_limit,
                    },
                )
        return []

    def _choose(
        self, s: Any, initiator: str, covers: set[Resource], tokens: list[TokenRef]
    ) -> tuple[str, PermitRow] | str:
        """The first usable permit among the presented tokens, then the initiator's
        standing grants: (its name, its row); else every refusal, joined ("" if none
        was even presented)."""
        refusals = []
        for token in (t for t in tokens if (t.resource_type.value, t.resource_id) in covers):
            found = self.store.permits.check(
                s, token.token, request_node_id=initiator, covers=covers
            )
            if not isinstance(found, Refusal) and found.resource_level != token.level:
                found = Refusal(
                    f"was presented at level {token.level}, granted at {found.resource_level}"
                )
            if isinstance(found, Refusal):
                refusals.append(f"permit {token.urn} {found.reason}")
                continue
            return token.urn, found
        for row in self.store.permits.standing_for(s, initiator, covers):
            kind = ResourceType(row.resource_type)
            name = f"standing grant {urn(self.node_id, kind, row.resource_id)}"
            found = self.store.permits.check_row(row, request_node_id=initiator, covers=covers)
            if isinstance(found, Refusal):
                refusals.append(f"{name} {found.reason}")
                continue
            return name, found
        return "; ".join(refusals)

    def _projects_listing(self, s: Any, initiator: str, resource: Resource) -> set[Resource]:
        """Projects we approved for ``initiator`` that list the dataset."""
        if resource[0] != ResourceType.DATASET.value:
            return set()
        rows = (
            s.query(AuditRow)
            .filter_by(
                direction=INBOUND,
                peer_node_id=initiator,
                resource_type=ResourceType.PROJECT.value,
                status=AuditStatus.APPROVED,
            )
            .all()
        )
        return {
            (ResourceType.PROJECT.value, row.resource_id)
            for row in rows
            if lists_dataset(row, resource[1])
        }


def presented_permits(approvals: ApprovalService, job: Job, me: str) -> list[TokenRef]:
    """The permits we hold that a job of ours needs at its partners: for each partner
    party's dataset or model (and the job or flow, in case its node asks for them), the
    permits its node granted us for it, or for a project of ours listing the dataset.
    Only those travel, not every permit held."""
    refs: dict[str, TokenRef] = {}
    everything = frozenset({"flow", "job"})
    for node in sorted({node for _, _, node in job.parties()} - {me}):
        projects = [r for r in approvals.approved_projects(node) if r.direction != INBOUND]
        for _, resource in resource_uses(job, node) + approvals_needed(job, everything):
            covers = {resource} | {
                (ResourceType.PROJECT.value, row.resource_id)
                for row in projects
                if lists_dataset(row, resource[1])
            }
            for permit in approvals.held_permits(node, covers):
                refs[permit.token] = TokenRef(
                    node,
                    permit.resource_type,
                    permit.resource_id,
                    permit.resource_level,
                    permit.token,
                )
    return list(refs.values())
