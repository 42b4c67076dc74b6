"""The kit's checks: importing this package registers every one of them.

Each module registers its checks with ``@check`` (``isthmus.conformance.registry``);
add a module here when it lands, in the order the report should list them.
"""

from isthmus.conformance.checks import (  # noqa: F401 - importing registers the checks
    approved,
    auth,
    envelope,
    listings,
    management,
    node_update,
    project_shared,
    psi,
    scheduling,
    secure_operate,
    transport_ew,
    transport_headers,
    transport_sn,
    uas,
)
