"""DocumentStore: the indexer's storage — add, replace, skip, remove, list; search via a Retriever.

Layout of an index folder::

    catalog.sqlite3         documents, chunks (text, metadata, embedding), generation counters
    vectors/<namespace>.faiss + .json   FAISS cache per namespace (rebuildable from the catalog)
    .writer.lock            held by the one process writing

Each document is committed in its own SQLite transaction; FAISS files are saved atomically after
every batch and reconciled with the catalog when loaded, so a crash at any point leaves the store
holding exactly the documents committed before it. A store open in another process (the gateway)
checks the generation counter on every search and catches up incrementally, without a restart.

The add loop lives in ``indexer.ingest`` and search in ``indexer.retriever`` (``StoreRetriever``);
this module keeps the catalog, the in-memory FAISS and BM25 indexes in step with it, and the lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from indexer import ingest
from indexer.catalog import Catalog, NewDocument
from indexer.chunking import TokenChunker
from indexer.embedder import Embedder, Reranker
from indexer.errors import (
    DocumentNotFoundError,
    IndexerError,
    IndexMismatchError,
    InvalidRequestError,
    ReadOnlyIndexError,
)
from indexer.lexical import LexicalIndex
from indexer.pipeline import check_metadata, check_namespace
from indexer.retriever import StoreRetriever
from indexer.schemas import AddReport, DocumentInfo, IndexStats, SearchHit, SearchMode
from indexer.vector_index import VectorIndex
from ragtune.crypto import DataKey
from ragtune.settings import IndexSettings

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite3"
LOCK_FILE = ".writer.lock"
LOCK_TIMEOUT_S = 120.0


class DocumentStore:
    """Chunks of company documents in FAISS + SQLite (search: ``retriever()`` or ``search``)."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        config: IndexSettings,
        *,
        read_only: bool,
        reranker: Reranker | None,
        key: DataKey | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.key = key
        """Encryption at rest (``ragtune.crypto``): the catalog through SQLCipher, FAISS files
        through AES-GCM; None stores them in clear."""
        self.embedder = embedder
        self.config = config
        self.read_only = read_only
        self.reranker = reranker
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._vectors: dict[str, VectorIndex] = {}
        self._lexical: dict[str, LexicalIndex] = {}
        self._seen_generation = -1
        self._seen_namespaces: dict[str, int] = {}
        self._writer_lock: Any = None

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index_dir: Path,
        embedder_path: Path,
        config: IndexSettings,
        *,
        read_only: bool = False,
        reranker_path: Path | None = None,
        key: DataKey | None = None,
    ) -> DocumentStore:
        """Open (creating unless read-only) the store in ``index_dir``.

        The embedder loads on first use. A read-only store on a folder that holds no index yet is
        empty until another process creates one. ``key``: the store is encrypted under it (a
        missing or wrong key for an encrypted store raises ``ragtune.crypto.EncryptionError``).
        """
        read_only = read_only or config.read_only
        reranker_path = reranker_path or config.reranker_path
        store = cls(
            Path(index_dir),
            Embedder.shared(Path(embedder_path), config.embed_batch_size),
            config,
            read_only=read_only,
            reranker=Reranker(reranker_path) if reranker_path else None,
            key=key,
        )
        if not read_only:
            store.index_dir.mkdir(parents=True, exist_ok=True)
        store._connect()
        store._check_embedder()
        return store

    def _connect(self) -> Catalog | None:
        if self._catalog is None:
            path = self.index_dir / CATALOG_FILE
            if self.read_only and not path.is_file():
                return None
            self._catalog = Catalog(path, read_only=self.read_only, key=self.key)
        return self._catalog

    def _check_embedder(self) -> None:
        catalog = self._catalog
        stored = catalog.get_meta("embedder") if catalog else None
        if stored is not None and stored != self.embedder.name:
            raise IndexMismatchError(
                f"the index in {self.index_dir} was built with embedder '{stored}', not "
                f"'{self.embedder.name}'; configure that embedder or use a fresh index folder"
            )

    @property
    def catalog(self) -> Catalog | None:
        return self._connect()

    @cached_property
    def write_embedder(self) -> Embedder:
        """The embedder writes encode with: its own instance, so an upload embedding its chunks in
        the writer thread never shares the model with a search embedding its query."""
        return self.embedder.twin()

    def close(self) -> None:
        """Close the catalog (FAISS files are already saved after every write)."""
        with self._lock:
            if self._catalog is not None:
                self._catalog.close()
                self._catalog = None
            self._vectors.clear()
            self._lexical.clear()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Load the embedder now, so the first search does not wait for it; a failure is logged
        (it shows again on the first search)."""
        try:
            self.embedder.encode(["warm-up"])
        except Exception as exc:  # noqa: BLE001 - logged here, raised again by the first search
            log.warning("embedder warm-up failed: %s", exc)

    # --- keeping in-memory indexes in step with the catalog --------------------------------
    def _vector_path(self, namespace: str) -> Path:
        return self.index_dir / "vectors" / f"{namespace}.faiss"

    def _dimension(self) -> int | None:
        catalog = self.catalog
        value = catalog.get_meta("dimension") if catalog else None
        return int(value) if value else None

    def _sync_namespace(self, namespace: str) -> VectorIndex | None:
        """Bring this namespace's vectors up to the catalog: load the file, add and drop the diff."""
        catalog, dimension = self.catalog, self._dimension()
        if catalog is None or dimension is None:
            return None
        vectors = self._vectors.get(namespace)
        if vectors is None:
            vectors = VectorIndex.load(self._vector_path(namespace), dimension, self.config, key=self.key)
            if (
                vectors is not None
                and vectors.saved_digest is not None
                and vectors.saved_digest != catalog.chunk_digest(namespace)
            ):
                log.warning(
                    "the vectors file of namespace '%s' was saved at catalog generation %s and no "
                    "longer matches the catalog (generation %s; lost commits or a crash before "
                    "saving); rebuilding it from the catalog",
                    namespace,
                    vectors.saved_generation,
                    catalog.generation(),
                )
                vectors = None
            vectors = vectors or VectorIndex(dimension, self.config)
        stored = catalog.chunk_ids(namespace)
        present = vectors.ids()
        stale = np.setdiff1d(present, stored, assume_unique=True)
        missing = np.setdiff1d(stored, present, assume_unique=True)
        vectors.remove(stale)
        if len(missing):
            ids, embeddings = catalog.embeddings(missing)
            vectors.add(ids, embeddings)
        self._vectors[namespace] = vectors
        self._lexical.pop(namespace, None)
        self._seen_namespaces[namespace] = catalog.namespace_generations().get(namespace, 0)
        return vectors

    def _refresh(self) -> None:
        """Catch up with changes other processes committed since we last looked (cheap when none)."""
        catalog = self.catalog
        if catalog is None:
            return
        generation = catalog.generation()
        if generation == self._seen_generation:
            return
        current = catalog.namespace_generations()
        for namespace in list(self._vectors) + [n for n in self._lexical if n not in self._vectors]:
            if current.get(namespace, 0) != self._seen_namespaces.get(namespace):
                if namespace in self._vectors:
                    self._sync_namespace(namespace)
                self._lexical.pop(namespace, None)
                self._seen_namespaces[namespace] = current.get(namespace, 0)
        self._seen_generation = generation

    def vectors_for(self, namespace: str) -> VectorIndex | None:
        """The namespace's FAISS index, loaded and brought up to the catalog on first use."""
        return self._vectors.get(namespace) or self._sync_namespace(namespace)

    def lexical_for(self, namespace: str) -> LexicalIndex | None:
        """The namespace's BM25 index, built on first use after every change."""
        catalog = self.catalog
        if catalog is None:
            return None
        if namespace not in self._lexical:
            ids, texts = catalog.texts(namespace)
            self._lexical[namespace] = LexicalIndex(ids, texts, self.config.language)
            self._seen_namespaces.setdefault(namespace, catalog.namespace_generations().get(namespace, 0))
        return self._lexical[namespace]

    def save_vectors(self, namespaces: set[str]) -> None:
        """Write the namespaces' FAISS files (atomically) with the catalog's generation."""
        with self._lock:
            catalog = self.catalog
            if catalog is None:
                return
            generation = catalog.generation()
            for namespace in namespaces:
                vectors = self._vectors.get(namespace)
                if vectors is not None:
                    vectors.save(
                        self._vector_path(namespace), generation, catalog.chunk_digest(namespace), key=self.key
                    )

    @contextmanager
    def reading(self) -> Iterator[Catalog | None]:
        """Hold the store still and caught up with other processes while a search reads it; yields
        the catalog (None while a read-only store has no index yet)."""
        with self._lock:
            catalog = self.catalog
            if catalog is not None:
                self._refresh()
            yield catalog

    # --- writing ------------------------------------------------------------------------
    def writable(self) -> Catalog:
        """The catalog, or ReadOnlyIndexError for a store opened read-only."""
        if self.read_only:
            raise ReadOnlyIndexError(f"the index in {self.index_dir} is open read-only")
        catalog = self.catalog
        assert catalog is not None
        return catalog

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """The cross-process writer lock of the index folder (waits up to LOCK_TIMEOUT_S)."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.index_dir / LOCK_FILE))
        try:
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        except Timeout:
            raise IndexerError(
                f"another process has been writing {self.index_dir} for over "
                f"{LOCK_TIMEOUT_S:.0f} s; try again when it has finished"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def writing(self, namespace: str) -> Iterator[None]:
        """Hold the writer lock for adding to ``namespace``: the catalog records the embedder, the
        namespace's vectors are loaded first and saved at the end (also after an error)."""
        with self._writer():
            try:
                self._ensure_embedder_meta(self.writable())
                with self._lock:
                    self._refresh()
                    self.vectors_for(namespace)
                yield
            finally:
                self.save_vectors({namespace})

    def _ensure_embedder_meta(self, catalog: Catalog) -> None:
        dimension = self.write_embedder.dimension  # loads the model outside the lock
        with self._lock:
            if catalog.get_meta("embedder") is None:
                catalog.set_meta("dimension", str(dimension))
                catalog.set_meta("embedder", self.embedder.name)
            self._check_embedder()

    def chunker(self) -> TokenChunker:
        """Splits sections into chunks by the embedder's tokens, as configured, capped at what the
        embedder reads (a longer chunk would be embedded by its head only)."""
        tokens = self.config.chunk_tokens
        limit = self.embedder.max_tokens
        if limit is not None and tokens > limit:
            if not getattr(self, "_capped_warned", False):
                log.warning(
                    "index.chunk_tokens %d is over what %s reads (%d tokens): chunks are capped at %d",
                    tokens,
                    self.embedder.name,
                    limit,
                    limit,
                )
                self._capped_warned = True
            tokens = limit
        return TokenChunker(self.write_embedder.tokenizer, tokens, self.config.chunk_overlap)

    def write_document(self, doc: NewDocument) -> None:
        """Store one document (replacing its old chunks) in one transaction and in the in-memory
        indexes."""
        catalog = self.writable()
        with self._lock:
            old_ids, new_ids = catalog.write_document(doc)
            index = self.vectors_for(doc.namespace)
            if index is not None:
                index.remove(old_ids)
                index.add(np.asarray(new_ids, dtype=np.int64), doc.embeddings)
                self._seen_namespaces[doc.namespace] = catalog.namespace_generations().get(doc.namespace, 0)
            self._lexical.pop(doc.namespace, None)

    def add_paths(
        self,
        paths: list[Path],
        *,
        namespace: str = "default",
        metadata: dict[str, Any] | None = None,
        progress: ingest.Progress | None = None,
    ) -> AddReport:
        """Add files and folders (recursive). Unchanged documents are skipped, changed replaced.

        A file that cannot be indexed is reported as failed (with the reason) and the others go
        on; a path that does not exist raises DocumentNotFoundError before anything is written.
        """
        self.writable()
        check_namespace(namespace)
        metadata = check_metadata(metadata)
        files = ingest.expand_paths(paths)
        limit = self.config.max_document_bytes
        items = ((p.name, str(p), ingest.file_reader(p, limit)) for p in files)
        return ingest.ingest(
            self,
            items,
            len(files),
            namespace=namespace,
            metadata=metadata,
            progress=progress or ingest.no_progress,
            raise_errors=False,
        )

    def add_bytes(
        self,
        filename: str,
        data: bytes,
        *,
        namespace: str = "default",
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> AddReport:
        """Add one uploaded file (format from the extension); bad input raises an IndexerError."""
        self.writable()
        check_namespace(namespace)
        metadata = check_metadata(metadata)
        if not filename or Path(filename).name != filename.replace("\\", "/").split("/")[-1]:
            raise InvalidRequestError("a file name is required")
        items = iter([(Path(filename).name, source or Path(filename).name, lambda: data)])
        return ingest.ingest(
            self, items, 1, namespace=namespace, metadata=metadata, progress=ingest.no_progress, raise_errors=True
        )

    def delete(self, doc_ids: list[str]) -> int:
        """Delete documents (the caller holds the writer lock); returns chunks removed."""
        catalog = self.writable()
        with self._lock:
            removed = catalog.delete_documents(doc_ids)
            for namespace, chunk_ids in removed.items():
                index = self._vectors.get(namespace)
                if index is not None:
                    index.remove(chunk_ids)
                    self._seen_namespaces[namespace] = catalog.namespace_generations().get(namespace, 0)
                self._lexical.pop(namespace, None)
            self.save_vectors(set(removed))
        return sum(len(ids) for ids in removed.values())

    def remove(self, doc_ids: list[str], *, namespace: str | None = None) -> int:
        """Delete documents and their chunks; returns chunks removed.

        Any unknown id (in ``namespace`` when given) raises DocumentNotFoundError and removes nothing.
        """
        catalog = self.writable()
        if namespace is not None:
            check_namespace(namespace)
        if not doc_ids:
            raise InvalidRequestError("name at least one document id to remove")
        unknown = sorted(set(doc_ids) - catalog.existing_doc_ids(doc_ids, namespace))
        if unknown:
            where = f" in namespace '{namespace}'" if namespace else ""
            raise DocumentNotFoundError(f"no document{where} with id {', '.join(unknown)}")
        with self._writer():
            with self._lock:
                self._refresh()
                for ns in {d.namespace for d in catalog.list_documents() if d.doc_id in set(doc_ids)}:
                    self.vectors_for(ns)
            return self.delete(list(dict.fromkeys(doc_ids)))

    # --- reading ------------------------------------------------------------------------
    def list_documents(self, namespace: str | None = None) -> list[DocumentInfo]:
        """Stored documents, optionally of one namespace."""
        if namespace is not None:
            check_namespace(namespace)
        catalog = self.catalog
        return catalog.list_documents(namespace) if catalog else []

    def stats(self) -> IndexStats:
        catalog = self.catalog
        disk = sum(p.stat().st_size for p in self.index_dir.rglob("*") if p.is_file()) if self.index_dir.is_dir() else 0
        if catalog is None:
            return IndexStats(
                documents=0,
                chunks=0,
                namespaces={},
                index_kind=self.config.kind,
                embedder=self.embedder.name,
                dimension=None,
                generation=0,
                disk_bytes=disk,
                index_dir=str(self.index_dir),
            )
        namespaces = catalog.namespaces()
        return IndexStats(
            documents=sum(namespaces.values()),
            chunks=catalog.count_chunks(),
            namespaces=namespaces,
            index_kind=self.config.kind,
            embedder=catalog.get_meta("embedder") or self.embedder.name,
            dimension=self._dimension(),
            generation=catalog.generation(),
            disk_bytes=disk,
            index_dir=str(self.index_dir),
        )

    def retriever(self, mode: SearchMode | None = None) -> StoreRetriever:
        """A retriever over this store: ``mode`` (default: the configured one), the configured
        candidates and fusion constant, and the re-ranker when one is configured."""
        return StoreRetriever(
            self,
            mode=mode or self.config.retrieval,
            candidates=self.config.candidates,
            rrf_k=self.config.rrf_k,
            reranker=self.reranker,
            per_section=self.config.max_chunks_per_section,
            demote_navigation=self.config.demote_navigation,
        )

    def search(
        self,
        query: str,
        *,
        k: int = 4,
        namespace: str = "default",
        filters: dict[str, Any] | None = None,
        mode: SearchMode | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best chunks of ``namespace`` for ``query``, best first (``retriever(mode).run``).

        ``mode``: dense (cosine), bm25, or hybrid (reciprocal rank fusion of both; the default).
        ``filters``: equality on doc_id / source / title / format or user metadata (a list value
        means any of). A configured cross-encoder re-ranks the candidates.
        """
        return self.retriever(mode).run(query, k=k, namespace=namespace, filters=filters)
