"""The training Job and compose service launch one process per GPU they request, through accelerate;
the accelerate configs under deploy/accelerate/ are valid and reach the launch command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parent.parent.parent
DEPLOY = REPO / "deploy"
CONFIGS = sorted((DEPLOY / "accelerate").glob("*.yaml"))


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_k8s_training_job_runs_one_process_per_requested_gpu() -> None:
    job = yaml.safe_load((DEPLOY / "k8s" / "jobs" / "training-job.yaml").read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
    # the device plugin shows the pod exactly the GPUs it requested; auto = one process per visible GPU
    assert container["args"][0] == "train" and _option(container["args"], "--processes") == "auto"
    assert _option(container["args"], "--device") == "cuda"


def test_compose_training_service_runs_one_process_per_reserved_gpu() -> None:
    train = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())["services"]["train"]
    count = train["deploy"]["resources"]["reservations"]["devices"][0]["count"]
    assert count == "${TRAIN_GPU_COUNT:-1}" == _option(train["command"], "--processes")
    assert "TRAIN_GPU_COUNT=" in (DEPLOY / "compose" / ".env.example").read_text()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_accelerate_configs_load(path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))
    assert config.num_machines == 1 and not config.use_cpu
    assert config.mixed_precision == "no"  # ragtune's --precision decides
    assert config.distributed_type.value in ("MULTI_GPU", "FSDP", "DEEPSPEED")


def test_sharding_configs_exist_and_the_image_ships_them() -> None:
    names = {p.name for p in CONFIGS}
    assert {"fsdp.yaml", "deepspeed-zero3.yaml"} <= names
    dockerfile = (DEPLOY / "docker" / "training.Dockerfile").read_text()
    assert "COPY deploy/accelerate /opt/ragtune/accelerate" in dockerfile
    assert "!deploy/accelerate/" in (DEPLOY / "docker" / "training.Dockerfile.dockerignore").read_text()


def test_launch_command_runs_ragtune_under_accelerate() -> None:
    from training.cli import launch_command

    plain = launch_command(
        2, "cpu", None, ["train", "--data", "d.jsonl", "--name", "x", "--processes", "2"], port=29555
    )
    assert plain[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert _option(plain, "--num_processes") == "2" and "--multi_gpu" in plain
    assert plain[plain.index("-m", 3) :] == [
        "-m",
        "ragtune.cli",
        "train",
        "--data",
        "d.jsonl",
        "--name",
        "x",
        "--processes",
        "2",
    ]
    sharded = launch_command(8, "cuda", DEPLOY / "accelerate" / "fsdp.yaml", ["train"])
    assert _option(sharded, "--config_file").endswith("fsdp.yaml") and "--multi_gpu" not in sharded
