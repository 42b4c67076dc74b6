"""The scheduling plane (BFIA part 2): jobs run as tasks on every party's platform.

Every node holds both halves: the ``participant`` (runs its parties' tasks through
``runners``, from the environment ``container_env`` builds) and the ``coordinator``
(the scheduler, for the jobs this node schedules), talking through ``channel``.
``jobs`` is the node's one door to both (submit, status, stop, why) and routes the
participant's reports; a stored job document is read back through ``jobdoc``; job and
task statuses follow the rules of ``status``; components come from the ``registry``.
"""
