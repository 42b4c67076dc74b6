"""Regenerate the committed protobuf modules from ``src/isthmus/wire/proto/*.proto``.

    .venv/bin/python scripts/gen_protos.py [OUT_DIR]

Runs grpc_tools' bundled protoc with ``src`` as the include root, so descriptor names
and Python imports are ``isthmus/wire/proto/...``. With OUT_DIR the files go there (the
test compares them with the committed ones); by default they replace the committed ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PROTO_DIR = SRC / "isthmus" / "wire" / "proto"


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(PROTO_DIR.glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{SRC}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(SRC)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_dir / "isthmus" / "wire" / "proto").glob("*_pb2*.py*"))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    for path in generate(out):
        print(path.relative_to(out))


if __name__ == "__main__":
    main()
