"""Self-descriptions: exported as the spec's JSON, read back, and used to validate the
parameters a platform passes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.components import (
    ComponentSpec,
    DataSlot,
    Param,
    ParameterError,
    from_self_description,
)

SPEC = ComponentSpec(
    name="demo",
    provider="isthmus",
    version="1.0.0",
    roles=("guest", "host"),
    params=(
        Param("rate", type="float", default=0.1, validator="(0,1]"),
        Param("rounds", type="int", optional=False, validator="[1,inf)"),
        Param("curve", choices=("curve25519", "sm2"), default="curve25519"),
        Param("fields", validator=r"regular:'[a-z_]+(,[a-z_]+)*'", default="id"),
        Param("flag", type="boolean", default=False),
        Param("extra", type="object"),
    ),
    inputs=(DataSlot("train_data", "dataset", ("csv",)),),
    outputs=(DataSlot("report", "report", ("json",)),),
    results=(("0", "success"),),
)


def test_export_follows_the_spec_examples() -> None:
    described = SPEC.self_description()
    assert described["componentName"] == "demo"
    assert described["roleList"] == ["guest", "host"]
    assert described["desVersion"] == "1.2.0"
    rate, rounds, curve = described["inputParam"][:3]
    assert rate == {
        "name": "rate",
        "title": "rate",
        "description": "",
        "type": "float",
        "optional": "true",
        "UIPattern": "editeable",
        "groupTag": "",
        "UIType": "input",
        "defaultValue": "0.1",
        "validator": "(0,1]",
    }
    assert rounds["optional"] == "false" and "defaultValue" not in rounds
    assert curve["bindingData"] == [
        {"label": "curve25519", "value": "curve25519"},
        {"label": "sm2", "value": "sm2"},
    ]
    assert described["inputData"] == [
        {"name": "train_data", "description": "", "category": "dataset", "dataFormat": ["csv"]}
    ]
    assert described["result"] == [{"resultCode": "0", "resultMessage": "success"}]


def test_parameters_are_typed_defaulted_and_validated() -> None:
    values = SPEC.parameters({"rounds": "3", "flag": "TRUE", "extra": {"a": 1}, "other": "x"})
    assert values == {
        "rate": 0.1,
        "rounds": 3,
        "curve": "curve25519",
        "fields": "id",
        "flag": True,
        "extra": {"a": 1},
    }
    assert SPEC.parameters({"rounds": 1, "extra": '{"b": 2}'})["extra"] == {"b": 2}


@pytest.mark.parametrize(
    ("given", "name", "fragment"),
    [
        ({}, "rounds", "required"),
        ({"rounds": "0"}, "rounds", "outside"),
        ({"rounds": "2.5"}, "rounds", "not a valid int"),
        ({"rounds": "1", "rate": "0"}, "rate", "outside"),
        ({"rounds": "1", "rate": "nan"}, "rate", "not a valid float"),
        ({"rounds": "1", "curve": "p256"}, "curve", "not one of"),
        ({"rounds": "1", "fields": "ID"}, "fields", "does not match"),
        ({"rounds": "1", "flag": "maybe"}, "flag", "not a valid boolean"),
        ({"rounds": "1", "extra": "[1]"}, "extra", "not a valid object"),
    ],
)
def test_each_bad_parameter_is_named(given: dict[str, object], name: str, fragment: str) -> None:
    with pytest.raises(ParameterError) as exc:
        SPEC.parameters(given)
    assert exc.value.name == name and fragment in exc.value.message


def test_bad_declarations_fail_at_import_not_at_run() -> None:
    with pytest.raises(ValueError, match="neither"):
        Param("x", validator="between 1 and 2")
    with pytest.raises(ValueError, match="type"):
        Param("x", type="decimal")
    with pytest.raises(ValueError, match="duplicate"):
        ComponentSpec("c", "p", "1", ("guest",), params=(Param("a"), Param("a")))


names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
params = st.builds(
    Param,
    name=names,
    type=st.sampled_from(["string", "int", "float", "boolean"]),
    optional=st.booleans(),
    description=st.text(max_size=20),
    title=st.text(min_size=1, max_size=10),  # an empty title is exported as the name
)
specs = st.builds(
    ComponentSpec,
    name=names,
    provider=names,
    version=st.from_regex(r"[0-9]\.[0-9]\.[0-9]", fullmatch=True),
    roles=st.lists(st.sampled_from(["guest", "host", "arbiter"]), min_size=1, unique=True).map(
        tuple
    ),
    params=st.lists(params, max_size=5, unique_by=lambda p: p.name).map(tuple),
    inputs=st.lists(st.builds(DataSlot, name=names), max_size=3).map(tuple),
    outputs=st.lists(st.builds(DataSlot, name=names), max_size=3).map(tuple),
    title=st.text(min_size=1, max_size=10),
)


@given(specs)
def test_self_descriptions_read_back_to_the_same_spec(spec: ComponentSpec) -> None:
    assert from_self_description(spec.self_description()) == spec


def test_other_vendors_descriptions_with_native_json_types_are_read() -> None:
    spec = from_self_description(
        {
            "componentName": "intersect_rsa",
            "provider": "fate",
            "version": "2.0.0",
            "roleList": ["guest", "host"],
            "inputParam": [{"name": "k", "type": "int", "optional": False, "defaultValue": 3}],
        }
    )
    assert spec.parameters({}) == {"k": 3}
    assert spec.params[0].optional is False
    with pytest.raises(ValueError, match="not a component"):
        from_self_description({"provider": "x"})


def test_typed_choices_still_hold_after_a_trip_through_the_registry() -> None:
    """The registry keeps self-descriptions, whose ``bindingData`` is text: an int
    parameter with choices must accept the int (and its text) once read back, and still
    refuse what is not a choice."""
    spec = ComponentSpec(
        name="keys",
        provider="isthmus",
        version="1.0.0",
        roles=("guest",),
        params=(Param("key_bits", type="int", default=2048, choices=(2048, 3072)),),
    )
    for read in (spec, from_self_description(spec.self_description())):
        assert read.parameters({"key_bits": 3072}) == {"key_bits": 3072}
        assert read.parameters({"key_bits": "2048"}) == {"key_bits": 2048}
        with pytest.raises(ParameterError, match=r"key_bits.*1024 is not one of"):
            read.parameters({"key_bits": 1024})
