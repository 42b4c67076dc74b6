"""Management plane (BFIA part 1): node contracts, datasets, resource approvals
(projects, flows, jobs, models, datasets), the permits that gate jobs, the outbox of
messages to partners, and the doctor.

Services here hold the rules (who may move a contract from which state to which), the
store holds the state, and the peer client carries the messages. The faces in
``isthmus.node.api`` only translate HTTP to these calls.
"""
