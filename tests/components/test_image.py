"""The container image definition starts the same entry point the tests run."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_runs_the_component_entry_point() -> None:
    text = (REPO / "Dockerfile").read_text()
    entry = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert entry is not None
    assert json.loads(entry.group(1)) == ["python", "-m", "isthmus.components"]
    for line in re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
    assert re.search(r"^USER\s+(?!root)\S+", text, re.MULTILINE), "the image must not run as root"
