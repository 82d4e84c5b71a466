"""FAISS vectors of one namespace: exact (flat), HNSW or IVF, keyed by chunk id.

Vectors are unit length, so inner product is cosine similarity. HNSW (and IVF behind an id map)
cannot delete vectors:
removed ids become tombstones excluded at search time (an ``IDSelectorNot``) and the graph is
rebuilt on save once they are over a fifth of it. IVF needs training, so it searches exactly until
it holds enough vectors to train its cells. Files are written to a temporary name, flushed and
renamed, so a reader never sees a half-written index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ragtune import crypto
from ragtune.crypto import DataKey
from ragtune.settings import IndexSettings

TOMBSTONE_SHARE = 0.2


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """One namespace's FAISS index (wrapped in ``IndexIDMap2`` so ids are chunk ids)."""

    def __init__(self, dimension: int, config: IndexSettings) -> None:
        self.dimension = dimension
        self.config = config
        self.tombstones: set[int] = set()
        self.index = self._empty()
        self.saved_generation: int | None = None
        """The catalog generation the loaded file was saved at (None: not loaded from a file)."""
        self.saved_digest: str | None = None
        """The catalog's ``chunk_digest`` when the loaded file was saved."""

    # --- construction -------------------------------------------------------------------
    def _ivf_ready(self, count: int) -> bool:
        return count >= 39 * self.config.ivf_nlist

    def _empty(self, train: np.ndarray | None = None) -> Any:
        faiss = _faiss()
        kind = self.config.kind
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dimension, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.config.hnsw_ef_construction
            inner.hnsw.efSearch = self.config.hnsw_ef_search
        elif kind == "ivf" and train is not None and self._ivf_ready(len(train)):
            quantizer = faiss.IndexFlatIP(self.dimension)
            inner = faiss.IndexIVFFlat(quantizer, self.dimension, self.config.ivf_nlist, faiss.METRIC_INNER_PRODUCT)
            inner.train(train)
            inner.nprobe = self.config.ivf_nprobe
        else:
            inner = faiss.IndexFlatIP(self.dimension)
        return faiss.IndexIDMap2(inner)

    @property
    def built_kind(self) -> str:
        """What the index really is now ("ivf" falls back to "flat" until it can be trained)."""
        inner = type(_faiss().downcast_index(self.index.index)).__name__
        return {"IndexHNSWFlat": "hnsw", "IndexIVFFlat": "ivf"}.get(inner, "flat")

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole index by these vectors."""
        self.index = self._empty(train=vectors if len(vectors) else None)
        self.tombstones = set()
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    # --- changes ------------------------------------------------------------------------
    def ids(self) -> np.ndarray:
        """Ids in the index, tombstones excluded."""
        faiss = _faiss()
        present = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        if self.tombstones:
            present = present[~np.isin(present, np.fromiter(self.tombstones, dtype=np.int64))]
        return present

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.tombstones.difference_update(int(i) for i in ids)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        if self.config.kind == "ivf" and self.built_kind == "flat" and self._ivf_ready(self.size):
            faiss = _faiss()
            all_ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            all_vectors = np.vstack([self.index.reconstruct(int(i)) for i in all_ids])
            self.rebuild(all_ids, all_vectors)

    def remove(self, ids: list[int] | np.ndarray) -> None:
        if len(ids) == 0:
            return
        if self.built_kind != "flat":  # IDMap2 over HNSW / IVF cannot renumber: tombstones
            self.tombstones.update(int(i) for i in ids)
            return
        faiss = _faiss()
        self.index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))

    @property
    def size(self) -> int:
        """Live vectors (tombstones excluded)."""
        return int(self.index.ntotal) - len(self.tombstones)

    def needs_compaction(self) -> bool:
        return bool(self.tombstones) and len(self.tombstones) > TOMBSTONE_SHARE * self.index.ntotal

    # --- search -------------------------------------------------------------------------
    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``n`` (ids, cosine scores) for one unit query vector, optionally only ``allowed``."""
        faiss = _faiss()
        if self.size == 0 or n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        selector = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        elif self.tombstones:
            dead = faiss.IDSelectorBatch(np.fromiter(self.tombstones, dtype=np.int64))
            selector = faiss.IDSelectorNot(dead)
            selector.referenced = dead  # keep the inner selector alive
        kind = self.built_kind
        if kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.config.hnsw_ef_search, n))
        elif kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.config.ivf_nprobe)
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        limit = min(n, self.size)
        scores, ids = self.index.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), limit, params=params
        )
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    # --- files --------------------------------------------------------------------------
    def save(self, path: Path, generation: int, digest: str | None = None, *, key: DataKey | None = None) -> None:
        """Write atomically (temporary file, fsync, rename, folder fsync), then a sidecar with the
        catalog generation and ``digest`` (``Catalog.chunk_digest``) it was built from; both
        encrypted (AES-GCM, ``ragtune.crypto``) under ``key`` when given."""
        faiss = _faiss()
        if self.needs_compaction():
            live = self.ids()
            vectors = (
                np.vstack([self.index.reconstruct(int(i)) for i in live])
                if len(live)
                else np.zeros((0, self.dimension), dtype=np.float32)
            )
            self.rebuild(live, vectors)
        path.parent.mkdir(parents=True, exist_ok=True)
        crypto.write_bytes(path, faiss.serialize_index(self.index).tobytes(), key, fsync=True)
        sidecar = {
            "generation": generation,
            "digest": digest,
            "kind": self.built_kind,
            "dimension": self.dimension,
            "tombstones": sorted(self.tombstones),
        }
        crypto.write_bytes(path.with_suffix(".json"), json.dumps(sidecar), key, fsync=True)

    @classmethod
    def load(
        cls, path: Path, dimension: int, config: IndexSettings, *, key: DataKey | None = None
    ) -> VectorIndex | None:
        """The saved index, or None when missing, unreadable or built for another configuration.

        With ``key``, a file not encrypted under it counts as unreadable (rebuilt from the catalog,
        then saved encrypted); without one an encrypted file raises ``EncryptionError``.
        """
        faiss = _faiss()
        vectors = cls(dimension, config)
        sidecar_path = path.with_suffix(".json")
        if not path.is_file() or not sidecar_path.is_file():
            return None
        try:
            sidecar_blob, index_blob = sidecar_path.read_bytes(), path.read_bytes()
            if key is not None and not (crypto.is_encrypted(sidecar_blob) and crypto.is_encrypted(index_blob)):
                return None
            sidecar = json.loads(crypto.decrypt(sidecar_blob, key, what=str(sidecar_path)))
            index = faiss.deserialize_index(np.frombuffer(crypto.decrypt(index_blob, key, what=str(path)), np.uint8))
        except crypto.EncryptionError:
            if key is None:
                raise
            return None  # another key's file: the catalog (which opened with this key) rebuilds it
        except (OSError, RuntimeError, ValueError):
            return None
        wanted = config.kind
        if index.d != dimension or (
            wanted != sidecar.get("kind") and not (wanted == "ivf" and sidecar.get("kind") == "flat")
        ):
            return None
        vectors.index = index
        vectors.tombstones = set(sidecar.get("tombstones", []))
        vectors.saved_generation = sidecar.get("generation")
        vectors.saved_digest = sidecar.get("digest")
        if vectors.built_kind == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = config.hnsw_ef_search
        return vectors
