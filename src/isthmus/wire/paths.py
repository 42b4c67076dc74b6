"""BFIA URL paths, exactly as the spec writes them (digest §1.4, §2.2)."""

from __future__ import annotations

INTERCONN = "/v1/interconn"

NODE_CONTRACT_APPLY = f"{INTERCONN}/node/contract/apply"
NODE_CONTRACT_CONFIRM = f"{INTERCONN}/node/contract/confirm"
NODE_CONTRACT_TERMINATE = f"{INTERCONN}/node/contract/terminate"
NODE_CONTRACT_QUERY = f"{INTERCONN}/node/contract/query"
NODE_UPDATE = f"{INTERCONN}/node/update"
NODE_QUERY = f"{INTERCONN}/node/query"
NODE_HEALTH = f"{INTERCONN}/node/health"
COMPONENT_LIST = f"{INTERCONN}/component/list"
COMPONENT_QUERY = f"{INTERCONN}/component/query"

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
PLATFORM_SCHEDULE = "/v1/platform/schedule"
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
