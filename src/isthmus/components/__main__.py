"""``python -m isthmus.components``: the container entry point.

Without arguments, runs the component the environment names and exits with its code.
``--describe`` prints the self-descriptions of every component of this image (a JSON
array) for registration with a platform.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from isthmus.components.catalog import registry
from isthmus.components.container import run_container


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m isthmus.components", description=__doc__)
    parser.add_argument(
        "--describe", action="store_true", help="print every self-description and exit"
    )
    args = parser.parse_args(argv)
    if args.describe:
        documents = [cls.spec.self_description() for _, cls in sorted(registry().items())]
        json.dump(documents, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    return run_container(os.environ)


if __name__ == "__main__":
    sys.exit(main())
