"""``isthmus console``: the console's URL and a one-time sign-in link that works once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from isthmus.testing.cluster import ProcessCluster, ProcessNode

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    with ProcessCluster() as cluster:
        yield cluster.add_node()


def isthmus_console(node: ProcessNode, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isthmus", "console", "--home", str(node.home), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_console_prints_the_url_and_a_link_that_works_once(node: ProcessNode) -> None:
    printed = isthmus_console(node).stdout
    base = node.config.admin_url
    assert f"console: {base}/console/" in printed
    link = next(line for line in printed.splitlines() if "/console/login/once?code=" in line)
    assert link.startswith(base)
    with httpx.Client() as browser:
        first = browser.get(link.strip())
        assert first.status_code == 303 and first.headers["location"] == "/console/"
        assert browser.get(base + "/console/").status_code == 200  # signed in as root
    with httpx.Client() as other:
        again = other.get(link.strip())
        assert again.status_code == 200 and 'id="login-error"' in again.text
        assert other.get(base + "/console/").status_code == 303  # not signed in


def test_console_json_names_the_principal(node: ProcessNode) -> None:
    data = json.loads(isthmus_console(node, "--json").stdout)
    assert data["principal"] == "root"
    assert data["console"] == node.config.admin_url + "/console/"
    assert data["expires_in_s"] == 600
