"""Configuration: file plus environment, with precise errors at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.node.config import load_config
from isthmus.node.home import init_home, read_private_key
from isthmus.wire.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_home(tmp_path / "node", node_id="NODE_A", inst_id="INST_A")


def test_defaults_and_derived_values(home: Path) -> None:
    config = load_config(home)
    assert config.node.node_id == "NODE_A"
    assert config.store_url == f"sqlite:///{home / 'isthmus.db'}"
    assert config.public_address == "http://127.0.0.1:8101"
    assert read_private_key(config).auth_type == "ED25519"


def test_environment_overrides_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISTHMUS_INTERCONN__PORT", "9911")
    monkeypatch.setenv("ISTHMUS_NODE__NAME", "From env")
    config = load_config(home)
    assert config.interconn.port == 9911 and config.node.name == "From env"


@pytest.mark.parametrize(
    ("toml_edit", "expected"),
    [
        (("port = 8101", "port = 70000"), "interconn.port: Input should be less than or equal"),
        (("[identity]", "[identity]\nsurprise = 1"), "identity.surprise: Extra inputs"),
        (('auth_type = "ED25519"', 'auth_type = "DES"'), "identity.auth_type"),
        (
            ("[interconn]", "[interconn]\ntls = { enabled = true }"),
            "TLS is enabled but cert_file, key_file, ca_file not set",
        ),
        (("[node]", "[node"), "cannot read"),
    ],
    ids=["range", "unknown-key", "suite", "tls-files", "syntax"],
)
def test_invalid_configuration_names_the_field(
    home: Path, toml_edit: tuple[str, str], expected: str
) -> None:
    path = home / "node.toml"
    old, new = toml_edit
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as excinfo:
        load_config(home)
    assert expected in excinfo.value.message


def test_missing_home_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="isthmus init"):
        load_config(tmp_path / "nowhere")


def test_key_of_another_suite_than_configured_is_refused(home: Path) -> None:
    path = home / "node.toml"
    path.write_text(path.read_text().replace('auth_type = "ED25519"', 'auth_type = "SM2_SM3"'))
    with pytest.raises(ConfigError, match="holds a ED25519 key"):
        read_private_key(load_config(home))
