"""``[beaver]``: off by default, needs the east-west gRPC listener, and names a bad
network in its error; the operator guide's example is a valid section."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from isthmus.node.config import BeaverSection, load_config
from isthmus.node.home import init_home
from isthmus.wire.errors import ConfigError

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operator-guide.md"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_home(tmp_path / "node", node_id="NODE_A", inst_id="INST_A")


def test_off_by_default_and_loopback_only(home: Path) -> None:
    beaver = load_config(home).beaver
    assert not beaver.enabled and beaver.allowed_networks == ["127.0.0.1/32", "::1/128"]


def test_enabling_it_needs_the_grpc_listener(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISTHMUS_BEAVER__ENABLED", "true")
    with pytest.raises(ConfigError, match=r"interconn\.grpc_port"):
        load_config(home)
    monkeypatch.setenv("ISTHMUS_INTERCONN__GRPC_PORT", "8104")
    assert load_config(home).beaver.enabled


def test_a_bad_network_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISTHMUS_BEAVER__ALLOWED_NETWORKS", '["10.0.0.0/8", "nonsense"]')
    with pytest.raises(ConfigError, match=r"beaver\.allowed_networks.*nonsense"):
        load_config(home)


def test_the_guide_example_is_a_valid_section() -> None:
    text = GUIDE.read_text(encoding="utf-8").split("## Beaver triple service", 1)[1]
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    assert BeaverSection(**tomllib.loads(block.group(1))["beaver"]).enabled
