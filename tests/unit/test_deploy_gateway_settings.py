"""The deployed gateway's settings (k8s ConfigMap + Secret) build an engine that talks to the
external vLLM Service with the shared key, and start no vLLM process of their own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from ragtune.settings import Settings

pytestmark = pytest.mark.unit

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


@pytest.fixture()
def cluster_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in ("configmap.yaml", "secret.example.yaml"):
        doc = next(yaml.safe_load_all((K8S / name).read_text()))  # the Secret ragtune-secrets comes first
        for key, value in (doc.get("data") or doc.get("stringData")).items():
            monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "home"))  # the image's /var/lib/ragtune
    monkeypatch.setenv("RAGTUNE_CONFIG", str(tmp_path / "none.toml"))
    return Settings()


def test_cluster_settings_build_an_external_vllm_engine_with_the_shared_key(cluster_settings: Settings) -> None:
    from services.engines.factory import create_engine
    from services.engines.vllm_engine import VLLMEngine

    engine = create_engine(cluster_settings)
    assert isinstance(engine, VLLMEngine)
    assert engine.process is None, "an external URL must not start a vLLM child process"
    assert engine.url == "http://ragtune-vllm:8000"
    assert engine.base_model == "smollm2-135m-instruct"
    headers = engine._http().headers  # the client of the control calls
    assert headers["authorization"] == "Bearer change-me-engine-key"

    async def stream_headers() -> str:  # the client of the generation streams
        session = engine._streams()
        try:
            return session.headers["Authorization"]
        finally:
            await session.close()

    assert asyncio.run(stream_headers()) == "Bearer change-me-engine-key"


def test_vllm_serves_the_name_the_gateway_asks_for() -> None:
    """vLLM's --served-model-name must be the gateway's base model name."""
    from services.engines.factory import served_name

    config = yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]
    settings = Settings(models={"generator": config["RAGTUNE_MODELS__GENERATOR"]})
    vllm = next(d for d in yaml.safe_load_all((K8S / "vllm.yaml").read_text()) if d["kind"] == "Deployment")
    args = vllm["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--served-model-name={served_name(settings)}" in args
    assert args[0] == f"/var/lib/ragtune/models/{served_name(settings)}"
    wait = vllm["spec"]["template"]["spec"]["initContainers"][0]["command"]
    assert f"{args[0]}/config.json" in wait, "the init container waits for the model vLLM loads"
