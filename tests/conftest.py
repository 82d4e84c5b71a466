"""Shared fixtures.

Models are provisioned once into a cache folder that survives test runs (``RAGTUNE_TEST_CACHE``,
default ``<repo>/.home``), so only the first run pays for the GGUF conversion. Every test gets its
own RAGTUNE_HOME whose ``models/`` links to that cache.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAGTUNE_TEST_CACHE", REPO / ".home")).resolve()
ARTIFACTS = Path(os.environ.get("RAGTUNE_TEST_ARTIFACTS", REPO / "test-artifacts")).resolve()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """A models folder holding the two built-in models (provisioned on first use)."""
    from ragtune import models

    folder = CACHE / "models"
    for name in models.BUILTIN_MODELS:
        if models.read_manifest(folder / name) is None:
            models.pull(name, folder)
    return folder


@pytest.fixture(scope="session")
def generator_path(models_dir: Path) -> Path:
    return models_dir / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def embedder_path(models_dir: Path) -> Path:
    return models_dir / "all-minilm-l6-v2"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty RAGTUNE_HOME for one test (no models; unit tests use this)."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("RAGTUNE_HOME", str(folder))
    from ragtune.settings import get_settings

    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture()
def home_with_models(home: Path, models_dir: Path) -> Path:
    """RAGTUNE_HOME for one test whose models/ is the shared provisioned cache."""
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# --- engines (services/engines) ----------------------------------------------------------------
def make_tiny_adapter(base_dir: Path, out_dir: Path, seed: int) -> Path:
    """A small random LoRA (r=8 on q/v, non-zero B so it changes the output) saved to ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_adapter(generator_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A peft LoRA adapter folder made on the real SmolLM2 base (random weights, seed 1)."""
    return make_tiny_adapter(generator_path, tmp_path_factory.mktemp("adapters") / "tiny", seed=1)


@pytest.fixture(scope="session")
def tiny_adapter_2(generator_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different peft LoRA adapter folder (seed 2)."""
    return make_tiny_adapter(generator_path, tmp_path_factory.mktemp("adapters") / "tiny2", seed=2)


@pytest.fixture(scope="session")
def tiny_full_model(generator_path: Path, tiny_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``ragtune train --method full`` leaves in the adapters folder (a complete model with
    tokenizer and a card of method ``full``), made cheaply: ``tiny_adapter`` merged into the base, so
    its greedy answers equal ``tiny_adapter``'s."""
    import shutil

    from services.engines.merged_models import merged_model_dir
    from training.adapter_folder import CARD_FILE
    from training.adapters import AdapterCard

    merged = merged_model_dir(generator_path, tiny_adapter, tmp_path_factory.mktemp("merge-cache"))
    folder = Path(shutil.copytree(merged, tmp_path_factory.mktemp("full") / "tiny-full"))
    card = AdapterCard(
        name="tiny-full",
        path=str(folder),
        base_model="smollm2-135m-instruct",
        method="full",
        data_sha256="test",
        train_examples=0,
        eval_examples=0,
    )
    (folder / CARD_FILE).write_text(card.model_dump_json())
    return folder


@pytest.fixture(scope="session")
def engine_settings(request: pytest.FixtureRequest) -> dict:
    """Engine settings of the gateway tests: the shared vLLM server (external URL), or the in-process
    engine when RAGTUNE_TEST_GATEWAY_ENGINE=local or vLLM is not installed here."""
    from services.engines.factory import vllm_available

    if os.environ.get("RAGTUNE_TEST_GATEWAY_ENGINE", "vllm") == "vllm" and vllm_available():
        return {"kind": "vllm", "url": request.getfixturevalue("vllm_server").url}
    return {"kind": "local"}


@pytest.fixture(scope="session")
def vllm_server(generator_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """ONE vLLM server for the whole test run: the base model with LoRA enabled (max-loras 4,
    1 GiB KV cache). Yields the ``VLLMProcess`` (``.url``, ``.served_model_name``, ``.log_path``);
    create ``VLLMEngine(served_model_name=..., url=vllm_server.url)`` objects against it.
    Adapters loaded through it stay loaded for later tests: use unique adapter names."""
    pytest.importorskip("vllm")
    from services.engines.vllm_process import VLLMLaunchConfig, VLLMProcess

    config = VLLMLaunchConfig(
        model_dir=generator_path,
        served_model_name="smollm2-135m-instruct",
        enable_lora=True,
        max_loras=4,
        max_lora_rank=64,
        kv_cache_gib=1,
    )
    process = VLLMProcess(config, tmp_path_factory.mktemp("vllm-runs"), start_timeout_s=420)
    process.start()
    yield process
    process.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def local_engine(generator_path: Path, tiny_adapter: Path):
    """ONE started LocalEngine (transformers + peft) with ``tiny_adapter`` loaded as ``tiny``."""
    from services.engines.local_engine import LocalEngine

    engine = LocalEngine(
        model_dir=generator_path, served_model_name="smollm2-135m-instruct", adapters={"tiny": tiny_adapter}
    )
    await engine.start()
    yield engine
    await engine.stop()


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _served(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    url: str,
    cwd: Path | None = None,
    timeout_s: float = 300,
    ready_line: str | None = None,
) -> Iterator[str]:
    import httpx

    def ready() -> bool:
        if ready_line is not None:
            return ready_line in log_path.read_text()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        return False

    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if process.poll() is not None:
                pytest.fail(
                    f"`{' '.join(command[-3:])}` exited ({process.returncode}):\n{log_path.read_text()[-4000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not become healthy:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def serve_gateway() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with serve_gateway(command, env, log_path, url) as url:`` runs a ``ragtune serve`` process
    until its /healthz answers 200 (or ``ready_line=`` appears in its log), failing the test with the
    log tail if it exits or times out, and terminates it afterwards."""
    return _served


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a TCP port nobody listens on right now."""
    return _free_port
