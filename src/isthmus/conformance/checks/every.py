"""Importing this module registers every check of the kit, in the order the report
lists them: add a module here when it lands."""

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
