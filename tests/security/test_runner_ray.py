"""Issue #12, item 11: the Ray runner connected to any address with no credentials (a
Ray cluster reached by anyone runs their code as the workers' user, who can read the
node's ``admin.token``), and handed each task actor the session token as an argument,
which Ray records in its control store and shows in its tooling.

Now a Ray address that is not on loopback is refused when the node starts unless Ray's
token authentication and TLS are on; and the token travels as a private file whose path
is the actor's argument, read by the supervisor and removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.components.builtin.column_select import SPEC as COLUMN_SELECT
from isthmus.scheduler.container_env import container_env
from isthmus.scheduler.ray_runner import RayRunner
from isthmus.scheduler.runners import TaskRun
from isthmus.testing import ProcessCluster
from isthmus.wire.status import Status
from tests.scheduler.test_runners import pipeline, placement, wait
from tests.support.ray_cluster import local_ray

pytestmark = pytest.mark.multinode

SECRET = "session-token-that-must-not-leak-0123456789"


def test_a_remote_ray_cluster_without_authentication_and_tls_is_refused_at_start() -> None:
    # A documentation address (TEST-NET-1): nothing is ever sent to it.
    remote = {"ISTHMUS_SCHEDULER__RAY_ADDRESS": "ray://192.0.2.10:10001"}
    with ProcessCluster(env=remote) as cluster:
        with pytest.raises(RuntimeError, match="is not a loopback address") as refused:
            cluster.add_node()
        assert "RAY_AUTH_MODE=token and RAY_USE_TLS=1" in str(refused.value)
    with (
        ProcessCluster(env={**remote, "RAY_AUTH_MODE": "token"}) as cluster,
        pytest.raises(RuntimeError, match="without RAY_USE_TLS=1"),
    ):
        cluster.add_node()
    secured = {**remote, "RAY_AUTH_MODE": "token", "RAY_USE_TLS": "1"}
    with ProcessCluster(env=secured) as cluster:
        cluster.add_node()  # starts: the cluster is Ray-authenticated and encrypted


class RecordingActor:
    """Ray's actor class, with every ``options`` and ``remote`` call noted before it
    goes on to Ray unchanged: what Ray would record."""

    def __init__(self, actor: Any, calls: list[Any]) -> None:
        self.actor, self.calls = actor, calls

    def options(self, **options: Any) -> Any:
        self.calls.append(options)
        real = self.actor.options(**options)
        calls = self.calls

        class Remote:
            def remote(self, *args: Any) -> Any:
                calls.append(args)
                return real.remote(*args)

        return Remote()


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with local_ray() as address:
        yield address


def test_the_session_token_is_neither_an_actor_argument_nor_in_its_name(
    ray_address: str, tmp_path: Path
) -> None:
    (tmp_path / "storage" / "data").mkdir(parents=True)
    (tmp_path / "storage" / "data" / "people").write_text("id,name\n1,ann\n")
    job = pipeline({"guest": {"0": {"select_0": {"dataset_id": "data#people", "columns": "id"}}}})
    where = placement(tmp_path)
    env = container_env(job, "select_0", "guest", 0, COLUMN_SELECT, where)
    env["config.token"] = SECRET
    runner = RayRunner(ray_address)
    runner._connect()
    calls: list[Any] = []
    runner._actor = RecordingActor(runner._actor, calls)
    log = tmp_path / "ray.log"
    handle = runner.start(TaskRun("job-9_select_0", env, log))
    assert SECRET not in repr(calls) and SECRET not in repr(handle)
    token_file = log.with_suffix(".token")
    assert str(token_file) in repr(calls)  # the path travels, not the token
    assert wait(runner, handle) == Status.SUCCESS, log.read_text()
    assert not token_file.exists()  # read into the component's environment, then removed
    import ray

    names = ray.util.list_named_actors(all_namespaces=True)
    assert any("job-9_select_0" in str(n) for n in names)
    assert SECRET not in repr(names)
    runner.release(handle)
