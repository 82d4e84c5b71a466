"""Adapters merged into full model folders, cached by content hash.

``merged_model_dir`` returns ``CACHE/<hash>/`` where the hash covers the base model and the adapter's
weights and config (not its card or README), so an adapter is merged once per content and a
retrained adapter gets a fresh folder. The merge itself is ``training.adapter_folder.merge``.
``evict_lru`` keeps the cache under a size limit (``engine.merged_cache_max_gib``), removing the
least recently used folders that no registered adapter needs.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from ragtune import models as model_store
from services.engines.base import EngineError
from training import adapter_folder

_merge_lock = threading.Lock()
log = logging.getLogger("ragtune.engines")
LAST_USED = ".last_used"
"""Touched in a merged folder whenever it is handed out (its mtime orders the LRU eviction)."""


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
    for name in (adapter_folder.ADAPTER_CONFIG, *adapter_folder.ADAPTER_WEIGHTS):
        if (adapter_dir / name).is_file():
            _hash_file(digest, adapter_dir / name)
            found = True
    if not found:
        raise EngineError(f"{adapter_dir} holds no peft adapter to merge (no {adapter_folder.ADAPTER_CONFIG})")
    return digest.hexdigest()[:24]


def merged_model_dir(base_dir: Path, adapter_dir: Path, cache_dir: Path) -> Path:
    """The full model folder of ``adapter_dir`` merged into ``base_dir``, merging on first use.

    Blocking (seconds: loads the base in fp32); call it in a worker thread. Concurrent callers
    for the same content wait for one merge; a half-written folder is never visible.
    """
    base_dir, adapter_dir = Path(base_dir), Path(adapter_dir)
    target = cache_dir / merge_key(base_dir, adapter_dir)
    with _merge_lock:
        if (target / adapter_folder.MERGE_INFO).is_file() and (target / adapter_folder.MODEL_CONFIG).is_file():
            (target / LAST_USED).touch()
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        if target.exists():  # a folder left without its merge record: merge again
            shutil.rmtree(target)
        try:
            adapter_folder.merge(base_dir, adapter_dir, target, info={"key": target.name})
        except Exception as exc:  # noqa: BLE001 - any failure is reported as one clear line
            raise EngineError(
                f"could not merge adapter {adapter_dir} into {base_dir}: {type(exc).__name__}: {exc}"
            ) from None
        (target / LAST_USED).touch()
    return target


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _last_used(folder: Path) -> float:
    marker = folder / LAST_USED
    return marker.stat().st_mtime if marker.is_file() else folder.stat().st_mtime


def evict_lru(cache_dir: Path, max_bytes: int, keep: Iterable[Path] = ()) -> list[Path]:
    """Remove the least recently used merged folders until the cache holds at most ``max_bytes``;
    folders in ``keep`` (those registered adapters are served from) are never removed. Returns
    the removed folders."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    kept = {Path(k).resolve() for k in keep}
    with _merge_lock:
        folders = [f for f in cache_dir.iterdir() if f.is_dir() and not f.name.startswith(".")]
        sizes = {f: _folder_bytes(f) for f in folders}
        total = sum(sizes.values())
        removed = []
        for folder in sorted(folders, key=_last_used):
            if total <= max_bytes:
                break
            if folder.resolve() in kept:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= sizes[folder]
            removed.append(folder)
            log.info("merged-model cache: removed %s (least recently used; cache over %d bytes)", folder, max_bytes)
    return removed
