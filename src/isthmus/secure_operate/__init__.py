"""The secure operator service (digest §3): MPC arithmetic offered to a platform as a
service on its own node, computed with the node's partners through the node's transport.

``registry`` (tasks and their phase state machine), ``expressions`` (the catalogue),
``binding`` (checks and the exchange of shapes), ``storage`` (the ``file`` engine),
``link`` (the task's link and its abort), ``service`` (execute, query, kill), ``engines``
(the semi2k engine and its triple source). A layer-4 sibling of the transport: it reaches
the transport only through what the node hands in.
"""
