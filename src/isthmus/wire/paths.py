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

PLATFORM_SCHEDULE = "/v1/platform/schedule"
COMPONENT_REGISTER = f"{PLATFORM_SCHEDULE}/component/register"

#: Paths the spec lets a caller use without ``x-auth-sign`` (digest §1.2): a node must be
#: able to introduce itself before any contract exists.
UNSIGNED_PATHS = frozenset({NODE_CONTRACT_APPLY, NODE_CONTRACT_CONFIRM, NODE_QUERY, NODE_HEALTH})
