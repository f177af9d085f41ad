"""Build-time helper for deploy/docker/Dockerfile (standard library only).

check_pins.py runtime-requirements pyproject.toml
    print [project.dependencies], one per line, for `pip install -c requirements.lock -r -`
check_pins.py verify requirements.lock
    fail unless every installed distribution (but pip/setuptools/wheel and sievert
    itself) is pinned in the lock at exactly the installed version
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: str) -> int:
    with open(pyproject, "rb") as f:
        for requirement in tomllib.load(f)["project"]["dependencies"]:
            print(requirement)
    return 0


def verify(lock: str) -> int:
    pins: dict[str, str] = {}
    with open(lock, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line)
            if m:
                pins[canonical(m.group(1))] = m.group(2)
    ignored = {"pip", "setuptools", "wheel", "sievert"}
    bad = []
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in ignored:
            continue
        if pins.get(name) != dist.version:
            bad.append(f"{name}=={dist.version} (lock: {pins.get(name, 'not pinned')})")
    if bad:
        print("installed but not as pinned in " + lock + ":\n  " + "\n  ".join(sorted(bad)), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "runtime-requirements":
        return runtime_requirements(argv[2])
    if len(argv) == 3 and argv[1] == "verify":
        return verify(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
