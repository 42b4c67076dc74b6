"""The scheduling plane (BFIA part 2): jobs run as tasks on every party's platform.

So far: how one party's task of a job becomes a container environment
(``container_env``), and the runner that starts it as a process (``ProcessRunner``).
"""
