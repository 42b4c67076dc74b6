"""Our PPCA ``.proto`` files describe exactly the messages of the ``interconnection``
package on PyPI (the PPCA reference), field for field.

The package pins protobuf < 5, which cannot live beside ours, so it is not imported: its
wheel is downloaded (pinned by hash) and the serialized file descriptors are read out of
its generated modules.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from isthmus.wire.proto import ecc_pb2, ecdh_psi_pb2, handshake_pb2, psi_handshake_pb2

WHEEL = "interconnection-0.2.0.dev0-py3-none-any.whl"
WHEEL_SHA256 = "d64e6dff498e9c3f781c200f1033c83b56ff5a5d344f79822bd04c040c15ce07"
CACHE = Path(os.environ.get("ISTHMUS_PEERS_DIR", Path.home() / ".cache" / "isthmus-peers"))

PAIRS = {
    "interconnection/runtime/ecdh_psi_pb2.py": ecdh_psi_pb2,
    "interconnection/handshake/entry_pb2.py": handshake_pb2,
    "interconnection/handshake/algos/psi_pb2.py": psi_handshake_pb2,
    "interconnection/handshake/protocol_family/ecc_pb2.py": ecc_pb2,
}


def reference_wheel() -> Path:
    wheels = CACHE / "wheels"
    path = wheels / WHEEL
    if not path.is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(wheels),
             "interconnection==0.2.0.dev0"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not path.is_file():
            reason = f"cannot download {WHEEL}: {done.stderr[-300:]}"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(f"SKIPPED LOUDLY: {reason}")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WHEEL_SHA256, "wheel changed"
    return path


def serialized_descriptor(source: str) -> descriptor_pb2.FileDescriptorProto:
    match = re.search(r"AddSerializedFile\((b'.*?')\)\n", source, re.DOTALL)
    assert match, "no serialized descriptor in the reference module"
    return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(match.group(1)))


def shape(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    """What the wire and the Any type URLs depend on (not file names or options)."""
    return {
        "package": fd.package,
        "enums": {e.name: [(v.name, v.number) for v in e.value] for e in fd.enum_type},
        "messages": {
            m.name: [(f.name, f.number, f.type, f.label, f.type_name) for f in m.field]
            for m in fd.message_type
        },
    }


@pytest.mark.parametrize("member", sorted(PAIRS))
def test_descriptors_match_the_reference_package(member: str) -> None:
    with zipfile.ZipFile(reference_wheel()) as wheel:
        theirs = serialized_descriptor(wheel.read(member).decode())
    ours = descriptor_pb2.FileDescriptorProto()
    PAIRS[member].DESCRIPTOR.CopyToProto(ours)
    assert shape(ours) == shape(theirs)
