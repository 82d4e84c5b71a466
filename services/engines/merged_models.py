"""Adapters merged into full model folders, cached by content hash.

``merged_model_dir`` returns ``CACHE/<hash>/`` where the hash covers the base model and the adapter's
weights and config (not its card or README), so an adapter is merged once per content and a
retrained adapter gets a fresh folder. Merging uses ``training.adapters.merge_adapter`` for adapters
with a ragtune card and peft's ``merge_and_unload`` directly for bare peft folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from ragtune import models as model_store
from ragtune.errors import RagtuneError
from services.engines.base import EngineError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
MERGE_INFO = "ragtune_merge.json"
_merge_lock = threading.Lock()


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    digest.update(path.name.encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def base_fingerprint(base_dir: Path) -> str:
    """The base model's content hash: its ragtune manifest when provisioned, else its files."""
    manifest = model_store.read_manifest(base_dir)
    if manifest is not None:
        return manifest.sha256
    digest = hashlib.sha256()
    for path in sorted(base_dir.glob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin", ".model", ".txt"}:
            _hash_file(digest, path)
    return digest.hexdigest()


def merge_key(base_dir: Path, adapter_dir: Path) -> str:
    """Content hash of (base model, adapter weights + config): the merged folder's cache key."""
    digest = hashlib.sha256(base_fingerprint(base_dir).encode())
    found = False
    for name in ADAPTER_FILES:
        if (adapter_dir / name).is_file():
            _hash_file(digest, adapter_dir / name)
            found = True
    if not found:
        raise EngineError(f"{adapter_dir} holds no peft adapter to merge (no adapter_config.json)")
    return digest.hexdigest()[:24]


def _merge_with_peft(base_dir: Path, adapter_dir: Path, out_dir: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(out_dir)


def _merge(base_dir: Path, adapter_dir: Path, out_dir: Path) -> None:
    """Merge into ``out_dir`` (which must not exist): ragtune's merge for adapters with a valid card,
    peft directly for bare peft folders (or ones whose card cannot be read)."""
    try:
        from training.adapters import merge_adapter, read_card
    except ImportError:
        merge_adapter = read_card = None
    if merge_adapter is not None:
        try:
            read_card(adapter_dir)
        except RagtuneError:
            pass
        else:
            merge_adapter(base_dir, adapter_dir, out_dir)
            return
    out_dir.mkdir(parents=True)
    _merge_with_peft(base_dir, adapter_dir, out_dir)


def merged_model_dir(base_dir: Path, adapter_dir: Path, cache_dir: Path) -> Path:
    """The full model folder of ``adapter_dir`` merged into ``base_dir``, merging on first use.

    Blocking (seconds: loads the base in fp32); call it in a worker thread. Concurrent callers
    for the same content wait for one merge; a half-written folder is never visible.
    """
    base_dir, adapter_dir = Path(base_dir), Path(adapter_dir)
    target = cache_dir / merge_key(base_dir, adapter_dir)
    with _merge_lock:
        if (target / MERGE_INFO).is_file() and (target / "config.json").is_file():
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging_root = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
        staging = staging_root / "model"
        try:
            try:
                _merge(base_dir, adapter_dir, staging)
            except Exception as exc:  # noqa: BLE001 - any failure is reported as one clear line
                raise EngineError(f"could not merge adapter {adapter_dir} into {base_dir}: "
                                  f"{type(exc).__name__}: {exc}") from None
            info_path = staging / MERGE_INFO
            info = json.loads(info_path.read_text()) if info_path.is_file() else {}
            info.update({"base_model_dir": str(base_dir), "adapter_dir": str(adapter_dir.resolve()),
                         "key": target.name})
            info_path.write_text(json.dumps(info, indent=2))
            staging.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging_root, ignore_errors=True)
    return target
