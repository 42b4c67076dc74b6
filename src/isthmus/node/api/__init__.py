"""The node's faces, one module per plane: where every route lives.

``contracts`` (node elements and contracts between nodes), ``transport`` (the
south-north app components push to and pop from, the east-west ``chan/*`` routes, the
gRPC servicers, and the admin's transport sessions), ``schedule`` (the scheduling
plane), ``management`` (datasets, resource approvals, projects) and ``operations``
(probes, metrics, tokens, the outbox, the audit log, components, the doctor).

Each module exports its ``east_west`` and/or ``north_south`` router; its handlers are
module-level functions that reach the node through one dependency
(``deps.node_context``). The apps in ``isthmus.node`` only assemble these routers, so
"where is the route for X" has one answer: the module of X's plane.
"""
