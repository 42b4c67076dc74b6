"""The scheduling plane (BFIA part 2): jobs run as tasks on every party's platform.

Every node holds both halves: the ``participant`` (runs its parties' tasks through
``runners``, from the environment ``container_env`` builds) and the ``coordinator``
(the scheduler, for the jobs this node schedules), talking through ``channel``; job
and task statuses follow ``status``; components come from the ``registry``.
"""
