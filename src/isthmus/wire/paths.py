"""BFIA URL paths, exactly as the spec writes them (digest §1.4, §2.2), and the node's own
admin API paths, spelled once so that the CLI, the admin client and the routes cannot
drift apart. A path with ``{name}`` fields is a route template: callers fill it with
``str.format``."""

from __future__ import annotations

#: The spec's version prefix: every BFIA path, east-west and north-south, is under it.
BFIA = "/v1"
INTERCONN = f"{BFIA}/interconn"

NODE_CONTRACT_APPLY = f"{INTERCONN}/node/contract/apply"
NODE_CONTRACT_CONFIRM = f"{INTERCONN}/node/contract/confirm"
NODE_CONTRACT_TERMINATE = f"{INTERCONN}/node/contract/terminate"
NODE_CONTRACT_QUERY = f"{INTERCONN}/node/contract/query"
NODE_UPDATE = f"{INTERCONN}/node/update"
NODE_QUERY = f"{INTERCONN}/node/query"
NODE_HEALTH = f"{INTERCONN}/node/health"
COMPONENT_LIST = f"{INTERCONN}/component/list"
COMPONENT_QUERY = f"{INTERCONN}/component/query"
#: The unified attestation service (digest §6): verify a UAR, answer a signed ``Uas`` UAR.
TEE_UAS_VERIFY = f"{INTERCONN}/tee/uas/verify"
#: The transport module's channel (digest §4): south-north push/pop/peek/release on the
#: transport listener; east-west the Isthmus stream and any platform's ``invoke``.
CHAN = f"{INTERCONN}/chan"
CHAN_PUSH = f"{CHAN}/push"
CHAN_POP = f"{CHAN}/pop"
CHAN_PEEK = f"{CHAN}/peek"
CHAN_RELEASE = f"{CHAN}/release"
CHAN_TRANSPORT = f"{CHAN}/transport"
CHAN_INVOKE = f"{CHAN}/invoke"

#: East-west management plane (digest §1.4): public dataset metadata, shared projects,
#: and approvals of resources (the spec spells them ``<resource>/audit/<action>``).
DATASET_PUB_LIST = f"{INTERCONN}/dataset/pub/list"
DATASET_PUB_QUERY = f"{INTERCONN}/dataset/pub/query"
PROJECT_LIST = f"{INTERCONN}/project/list"
PROJECT_QUERY = f"{INTERCONN}/project/query"
#: ``resource``: ``dataset``, ``project``, ``flow``, ``job`` or ``model``; ``action``:
#: ``apply``, ``confirm``, ``terminate`` or ``query``.
RESOURCE_APPROVAL = f"{INTERCONN}/{{resource}}/audit/{{action}}"

#: East-west control API (digest §2.2): scheduler ↔ participants.
SCHEDULE = f"{INTERCONN}/schedule"
JOB_CREATE_ALL = f"{SCHEDULE}/job/create_all"
JOB_CREATE = f"{SCHEDULE}/job/create"
JOB_START = f"{SCHEDULE}/job/start"
JOB_STOP_ALL = f"{SCHEDULE}/job/stop_all"
JOB_STOP = f"{SCHEDULE}/job/stop"
JOB_STATUS_ALL = f"{SCHEDULE}/job/status_all"
TASK_START = f"{SCHEDULE}/task/start"
TASK_POLL = f"{SCHEDULE}/task/poll"
TASK_CALLBACK = f"{SCHEDULE}/task/callback"
#: Kuscia's non-spec ``task/stop`` (``{task_id}``), accepted.
TASK_STOP = f"{SCHEDULE}/task/stop"

#: North-south (an upper layer, or a container, to its own node).
PLATFORM_SCHEDULE = f"{BFIA}/platform/schedule"
COMPONENT_REGISTER = f"{PLATFORM_SCHEDULE}/component/register"
PLATFORM_JOB_CREATE_ALL = f"{PLATFORM_SCHEDULE}/job/create_all"
PLATFORM_JOB_STOP_ALL = f"{PLATFORM_SCHEDULE}/job/stop_all"
PLATFORM_JOB_STATUS_ALL = f"{PLATFORM_SCHEDULE}/job/status_all"
PLATFORM_JOB_LIST = f"{PLATFORM_SCHEDULE}/job/query_job_list"
PLATFORM_JOB_STOP_TASK = f"{PLATFORM_SCHEDULE}/job/stop_task"
PLATFORM_TASK_LOG = f"{PLATFORM_SCHEDULE}/task/get_log"
PLATFORM_TASK_LOG_LINES = f"{PLATFORM_SCHEDULE}/task/get_log_line"
#: Isthmus extension: one call that says why a job failed, across parties.
PLATFORM_JOB_WHY = f"{PLATFORM_SCHEDULE}/job/why"
#: Where containers report their status (``system.callback``).
PLATFORM_TASK_CALLBACK = f"{PLATFORM_SCHEDULE}/task/callback"

#: Paths the spec lets a caller use without ``x-auth-sign`` (digest §1.2): a node must be
#: able to introduce itself before any contract exists.
UNSIGNED_PATHS = frozenset({NODE_CONTRACT_APPLY, NODE_CONTRACT_CONFIRM, NODE_QUERY, NODE_HEALTH})

#: The node's probes (no token, no envelope prefix): liveness, readiness, the scrape.
HEALTHZ = "/healthz"
READYZ = "/readyz"
#: The Prometheus scrape (no token, like the probes).
METRICS = "/metrics"
PROBES = frozenset({HEALTHZ, READYZ, METRICS})

#: The node's own admin API (north-south, bearer token; not in the spec).
ADMIN = "/admin/v1"
ADMIN_NODE = f"{ADMIN}/node"
ADMIN_DOCTOR = f"{ADMIN}/doctor"
ADMIN_CONTRACTS = f"{ADMIN}/contracts"
ADMIN_CONTRACT = f"{ADMIN_CONTRACTS}/{{contract_id}}"
ADMIN_CONTRACT_APPLY = f"{ADMIN_CONTRACTS}/apply"
ADMIN_CONTRACT_SYNC = f"{ADMIN_CONTRACTS}/sync"
ADMIN_CONTRACT_APPROVE = f"{ADMIN_CONTRACTS}/{{contract_id}}/approve"
ADMIN_CONTRACT_REJECT = f"{ADMIN_CONTRACTS}/{{contract_id}}/reject"
ADMIN_CONTRACT_TERMINATE = f"{ADMIN_CONTRACTS}/{{contract_id}}/terminate"
ADMIN_COMPONENTS = f"{ADMIN}/components"
ADMIN_COMPONENT_STATE = f"{ADMIN_COMPONENTS}/state"
#: The hash-chained audit log.
ADMIN_AUDIT = f"{ADMIN}/audit"
ADMIN_AUDIT_VERIFY = f"{ADMIN_AUDIT}/verify"
ADMIN_AUDIT_EXPORT = f"{ADMIN_AUDIT}/export"
ADMIN_DATASETS = f"{ADMIN}/datasets"
ADMIN_DATASET_REMOVE = f"{ADMIN_DATASETS}/remove"
ADMIN_DATASET_ONE = f"{ADMIN_DATASETS}/one"
ADMIN_PARTNER_DATASETS = f"{ADMIN}/partners/{{peer}}/datasets"
#: Approvals of resource requests (the spec's ``audit/apply``, hence ``audits`` in the
#: path); not the audit log above.
ADMIN_APPROVALS = f"{ADMIN}/audits"
ADMIN_APPROVAL_APPLY = f"{ADMIN_APPROVALS}/apply"
ADMIN_APPROVAL_GRANT = f"{ADMIN_APPROVALS}/grant"
ADMIN_APPROVAL_APPROVE = f"{ADMIN_APPROVALS}/{{peer}}/{{audit_id}}/approve"
ADMIN_APPROVAL_REJECT = f"{ADMIN_APPROVALS}/{{peer}}/{{audit_id}}/reject"
ADMIN_APPROVAL_TERMINATE = f"{ADMIN_APPROVALS}/{{peer}}/{{audit_id}}/terminate"
ADMIN_APPROVAL_SYNC = f"{ADMIN_APPROVALS}/sync"
ADMIN_TOKENS = f"{ADMIN}/tokens"
ADMIN_TOKEN_REVOKE = f"{ADMIN_TOKENS}/{{name}}/revoke"
#: Access keys of the node's TEE verification service (UAS; ``isthmus tee access-key``).
ADMIN_TEE_ACCESS_KEYS = f"{ADMIN}/tee/access-keys"
ADMIN_TEE_ACCESS_KEY_REVOKE = f"{ADMIN_TEE_ACCESS_KEYS}/{{access_key}}/revoke"
ADMIN_OUTBOX = f"{ADMIN}/outbox"
ADMIN_TRANSPORT_SESSIONS = f"{ADMIN}/transport/sessions"
ADMIN_TRANSPORT_SESSION_RELEASE = f"{ADMIN_TRANSPORT_SESSIONS}/{{session_id}}/release"
ADMIN_JOBS = f"{ADMIN}/jobs"
ADMIN_JOB_TASKS = f"{ADMIN_JOBS}/{{job_id}}/tasks"
#: This node's outputs of a job's tasks, with a preview of their rows (operator-only).
ADMIN_JOB_OUTPUTS = f"{ADMIN_JOBS}/{{job_id}}/outputs"
#: A one-time sign-in link to the operator console (``isthmus console``), for the caller.
ADMIN_CONSOLE_LINKS = f"{ADMIN}/console/links"


def resource_approval(resource: str, action: str) -> str:
    """The east-west path of an approval ``action`` on a ``resource`` type (lower case)."""
    return RESOURCE_APPROVAL.format(resource=resource, action=action)


#: The secure operator service (digest §3): north-south, a platform to its own node, on
#: the admin listener (protocol.md §17 says why). Its replies are the service's own
#: ``{code, msg, result}``, not the BFIA envelope.
SECURE_OPERATE = "/secure_operate/v1"
SECOP_EXECUTE = f"{SECURE_OPERATE}/execute"
SECOP_EXPRESSIONS = f"{SECURE_OPERATE}/expressions"
SECOP_KILL = f"{SECURE_OPERATE}/kill"
SECOP_QUERY = f"{SECURE_OPERATE}/query"
