"""DocumentStore: the indexer's public face — add, replace, skip, remove, list and search.

Layout of an index folder::

    catalog.sqlite3         documents, chunks (text, metadata, embedding), generation counters
    vectors/<namespace>.faiss + .json   FAISS cache per namespace (rebuildable from the catalog)
    .writer.lock            held by the one process writing

Each document is committed in its own SQLite transaction; FAISS files are saved atomically after
every batch and reconciled with the catalog when loaded, so a crash at any point leaves the store
holding exactly the documents committed before it. A store open in another process (the gateway)
checks the generation counter on every search and catches up incrementally, without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from indexer.catalog import Catalog, ChunkRow, NewDocument
from indexer.chunking import TokenChunker
from indexer.embedder import Embedder, Reranker
from indexer.errors import (
    DocumentNotFoundError,
    IndexerError,
    IndexMismatchError,
    InvalidRequestError,
    ReadOnlyIndexError,
    UnreadableDocumentError,
)
from indexer.lexical import LexicalIndex, reciprocal_rank_fusion
from indexer.loaders import FORMATS
from indexer.pipeline import PreparedDocument, check_metadata, check_namespace, prepare_file
from indexer.schemas import AddReport, DocumentInfo, DocumentOutcome, IndexStats, SearchHit, SearchMode
from indexer.vector_index import VectorIndex
from ragtune.settings import IndexSettings

Progress = Callable[[str, float], None]
"""Called with (what is happening, fraction done in [0, 1])."""

CATALOG_FILE = "catalog.sqlite3"
LOCK_FILE = ".writer.lock"
EMBED_BATCH_CHUNKS = 256
"""Chunks gathered across documents before one ``encode`` call (keeps batches full)."""
SAVE_EVERY_S = 30.0
LOCK_TIMEOUT_S = 120.0
MAX_K = 100


def _no_progress(_step: str, _fraction: float) -> None:
    return None


class DocumentStore:
    """Chunks of company documents in FAISS + SQLite, searched dense, BM25 or hybrid (RRF)."""

    def __init__(self, index_dir: Path, embedder: Embedder, config: IndexSettings, *,
                 read_only: bool, reranker: Reranker | None) -> None:
        self.index_dir = Path(index_dir)
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
    def open(cls, index_dir: Path, embedder_path: Path, config: IndexSettings, *,
             read_only: bool = False, reranker_path: Path | None = None) -> DocumentStore:
        """Open (creating unless read-only) the store in ``index_dir``.

        The embedder loads on first use. A read-only store on a folder that holds no index yet is
        empty until another process creates one.
        """
        read_only = read_only or config.read_only
        reranker_path = reranker_path or config.reranker_path
        store = cls(Path(index_dir), Embedder.shared(Path(embedder_path), config.embed_batch_size), config,
                    read_only=read_only, reranker=Reranker(reranker_path) if reranker_path else None)
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
            self._catalog = Catalog(path, read_only=self.read_only)
        return self._catalog

    def _check_embedder(self) -> None:
        catalog = self._catalog
        stored = catalog.get_meta("embedder") if catalog else None
        if stored is not None and stored != self.embedder.name:
            raise IndexMismatchError(
                f"the index in {self.index_dir} was built with embedder '{stored}', not "
                f"'{self.embedder.name}'; configure that embedder or use a fresh index folder")

    @property
    def catalog(self) -> Catalog | None:
        return self._connect()

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
            vectors = VectorIndex.load(self._vector_path(namespace), dimension, self.config) \
                or VectorIndex(dimension, self.config)
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

    def _vectors_for(self, namespace: str) -> VectorIndex | None:
        return self._vectors.get(namespace) or self._sync_namespace(namespace)

    def _lexical_for(self, namespace: str) -> LexicalIndex | None:
        catalog = self.catalog
        if catalog is None:
            return None
        if namespace not in self._lexical:
            ids, texts = catalog.texts(namespace)
            self._lexical[namespace] = LexicalIndex(ids, texts)
            self._seen_namespaces.setdefault(namespace, catalog.namespace_generations().get(namespace, 0))
        return self._lexical[namespace]

    def _save_vectors(self, namespaces: set[str]) -> None:
        catalog = self.catalog
        if catalog is None:
            return
        generation = catalog.generation()
        for namespace in namespaces:
            vectors = self._vectors.get(namespace)
            if vectors is not None:
                vectors.save(self._vector_path(namespace), generation)

    # --- writing ------------------------------------------------------------------------
    def _writable(self) -> Catalog:
        if self.read_only:
            raise ReadOnlyIndexError(f"the index in {self.index_dir} is open read-only")
        catalog = self.catalog
        assert catalog is not None
        return catalog

    def _acquire_writer(self) -> Any:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.index_dir / LOCK_FILE))
        try:
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        except Timeout:
            raise IndexerError(f"another process has been writing {self.index_dir} for over "
                               f"{LOCK_TIMEOUT_S:.0f} s; try again when it has finished") from None
        return lock

    def _ensure_embedder_meta(self, catalog: Catalog) -> None:
        dimension = self.embedder.dimension  # loads the model outside the lock
        with self._lock:
            if catalog.get_meta("embedder") is None:
                catalog.set_meta("dimension", str(dimension))
                catalog.set_meta("embedder", self.embedder.name)
            self._check_embedder()

    def _chunker(self) -> TokenChunker:
        return TokenChunker(self.embedder.tokenizer, self.config.chunk_tokens, self.config.chunk_overlap)

    def _commit(self, batch: list[tuple[PreparedDocument, str]], report: AddReport,
                namespace: str) -> None:
        """Embed the batch's new chunks in one call, then store each document atomically."""
        catalog = self._writable()
        inputs: list[str] = []
        reused: list[dict[str, np.ndarray]] = []
        for doc, _status in batch:
            known = catalog.embeddings_by_hash(namespace, doc.embed_hashes)
            reused.append(known)
            inputs.extend(t for t, h in zip(doc.embed_inputs, doc.embed_hashes, strict=True)
                          if h not in known)
        encoded = iter(self.embedder.encode(inputs))
        report.chunks_embedded += len(inputs)
        for (doc, status), known in zip(batch, reused, strict=True):
            vectors = np.vstack([known[h] if h in known else next(encoded) for h in doc.embed_hashes])
            new_doc = NewDocument(
                doc_id=doc.doc_id, namespace=namespace, source=doc.source, origin=doc.origin,
                title=doc.title, format=doc.format, content_hash=doc.content_hash,
                metadata=doc.metadata, chunks=doc.chunks, embed_hashes=doc.embed_hashes,
                embeddings=vectors)
            with self._lock:
                old_ids, new_ids = catalog.write_document(new_doc)
                index = self._vectors_for(namespace)
                if index is not None:
                    index.remove(old_ids)
                    index.add(np.asarray(new_ids, dtype=np.int64), vectors)
                    self._seen_namespaces[namespace] = catalog.namespace_generations().get(namespace, 0)
                self._lexical.pop(namespace, None)
            report.documents.append(DocumentOutcome(doc_id=doc.doc_id, source=doc.source,
                                                    title=doc.title, status=status,
                                                    chunks=len(doc.chunks), pii_masked=doc.pii_masked))

    def _ingest(self, files: Iterator[tuple[str, str, Callable[[], bytes]]], total: int, *,
                namespace: str, metadata: dict[str, Any], progress: Progress,
                raise_errors: bool) -> AddReport:
        """Shared add loop over (filename, source, read bytes) items."""
        catalog = self._writable()
        started = time.perf_counter()
        report = AddReport(namespace=namespace)
        lock = self._acquire_writer()
        try:
            self._ensure_embedder_meta(catalog)
            chunker = self._chunker()
            with self._lock:
                self._refresh()
                self._vectors_for(namespace)
            batch: list[tuple[PreparedDocument, str]] = []
            batch_chunks = 0
            origins: dict[str, set[str]] = {}
            last_save = time.perf_counter()
            for done, (filename, source, read) in enumerate(files):
                progress(f"{Path(filename).name}", done / max(total, 1))
                try:
                    prepared = prepare_file(read(), filename, namespace=namespace, source=source,
                                            user_metadata=metadata, chunker=chunker,
                                            config=self.config, embedder_name=self.embedder.name)
                except IndexerError as err:
                    if raise_errors:
                        raise
                    report.documents.append(DocumentOutcome(source=source, status="failed",
                                                            reason=str(err), status_code=err.status_code))
                    continue
                if len(prepared) > 1 or (prepared and prepared[0].source != source):
                    origins[source] = {doc.doc_id for doc in prepared}
                for doc in prepared:
                    previous = catalog.document_hash(doc.doc_id)
                    if previous is not None and previous[0] == doc.content_hash:
                        report.documents.append(DocumentOutcome(
                            doc_id=doc.doc_id, source=doc.source, title=doc.title, status="skipped",
                            chunks=len(doc.chunks)))
                        continue
                    batch.append((doc, "replaced" if previous is not None else "added"))
                    batch_chunks += len(doc.chunks)
                if batch_chunks >= EMBED_BATCH_CHUNKS:
                    self._commit(batch, report, namespace)
                    batch, batch_chunks = [], 0
                    if time.perf_counter() - last_save > SAVE_EVERY_S:
                        with self._lock:
                            self._save_vectors({namespace})
                        last_save = time.perf_counter()
            if batch:
                self._commit(batch, report, namespace)
            for origin, kept in origins.items():
                stale = sorted(catalog.doc_ids_from_origin(namespace, origin) - kept)
                if stale:
                    self._delete(stale)
                    report.documents.extend(DocumentOutcome(doc_id=d, source=origin, status="removed")
                                            for d in stale)
            progress("done", 1.0)
        finally:
            with self._lock:
                self._save_vectors({namespace})
            lock.release()
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _expand(paths: list[Path]) -> list[Path]:
        """Files named plus supported files under folders (recursive, hidden ones skipped)."""
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            raise DocumentNotFoundError(f"no such file or folder: {', '.join(missing)}")
        files: list[Path] = []
        for path in map(Path, paths):
            if path.is_dir():
                files.extend(sorted(
                    p for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in FORMATS
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)))
            else:
                files.append(path)
        return list(dict.fromkeys(p.resolve() for p in files))

    def add_paths(self, paths: list[Path], *, namespace: str = "default",
                  metadata: dict[str, Any] | None = None, progress: Progress | None = None) -> AddReport:
        """Add files and folders (recursive). Unchanged documents are skipped, changed replaced.

        A file that cannot be indexed is reported as failed (with the reason) and the others go
        on; a path that does not exist raises DocumentNotFoundError before anything is written.
        """
        self._writable()
        check_namespace(namespace)
        metadata = check_metadata(metadata)
        files = self._expand(paths)

        def read(path: Path) -> Callable[[], bytes]:
            def reader() -> bytes:
                try:  # never more than the limit + 1 bytes, so a huge file fails fast
                    with path.open("rb") as handle:
                        return handle.read(self.config.max_document_bytes + 1)
                except OSError as exc:
                    raise UnreadableDocumentError(f"{path}: cannot read ({exc.strerror})") from None
            return reader

        items = ((p.name, str(p), read(p)) for p in files)
        return self._ingest(items, len(files), namespace=namespace, metadata=metadata,
                            progress=progress or _no_progress, raise_errors=False)

    def add_bytes(self, filename: str, data: bytes, *, namespace: str = "default",
                  metadata: dict[str, Any] | None = None, source: str | None = None) -> AddReport:
        """Add one uploaded file (format from the extension); bad input raises an IndexerError."""
        self._writable()
        check_namespace(namespace)
        metadata = check_metadata(metadata)
        if not filename or Path(filename).name != filename.replace("\\", "/").split("/")[-1]:
            raise InvalidRequestError("a file name is required")
        items = iter([(Path(filename).name, source or Path(filename).name, lambda: data)])
        return self._ingest(items, 1, namespace=namespace, metadata=metadata,
                            progress=_no_progress, raise_errors=True)

    def _delete(self, doc_ids: list[str]) -> int:
        catalog = self._writable()
        with self._lock:
            removed = catalog.delete_documents(doc_ids)
            for namespace, chunk_ids in removed.items():
                index = self._vectors.get(namespace)
                if index is not None:
                    index.remove(chunk_ids)
                    self._seen_namespaces[namespace] = catalog.namespace_generations().get(namespace, 0)
                self._lexical.pop(namespace, None)
            self._save_vectors(set(removed))
        return sum(len(ids) for ids in removed.values())

    def remove(self, doc_ids: list[str], *, namespace: str | None = None) -> int:
        """Delete documents and their chunks; returns chunks removed.

        Any unknown id (in ``namespace`` when given) raises DocumentNotFoundError and removes nothing.
        """
        catalog = self._writable()
        if namespace is not None:
            check_namespace(namespace)
        if not doc_ids:
            raise InvalidRequestError("name at least one document id to remove")
        unknown = sorted(set(doc_ids) - catalog.existing_doc_ids(doc_ids, namespace))
        if unknown:
            where = f" in namespace '{namespace}'" if namespace else ""
            raise DocumentNotFoundError(f"no document{where} with id {', '.join(unknown)}")
        lock = self._acquire_writer()
        try:
            with self._lock:
                self._refresh()
                for ns in {d.namespace for d in catalog.list_documents() if d.doc_id in set(doc_ids)}:
                    self._vectors_for(ns)
            return self._delete(list(dict.fromkeys(doc_ids)))
        finally:
            lock.release()

    # --- reading ------------------------------------------------------------------------
    def list_documents(self, namespace: str | None = None) -> list[DocumentInfo]:
        """Stored documents, optionally of one namespace."""
        if namespace is not None:
            check_namespace(namespace)
        catalog = self.catalog
        return catalog.list_documents(namespace) if catalog else []

    def get_document(self, doc_id: str, namespace: str | None = None) -> DocumentInfo:
        found = [d for d in self.list_documents(namespace) if d.doc_id == doc_id]
        if not found:
            raise DocumentNotFoundError(f"no document with id {doc_id}")
        return found[0]

    def stats(self) -> IndexStats:
        catalog = self.catalog
        disk = sum(p.stat().st_size for p in self.index_dir.rglob("*") if p.is_file()) \
            if self.index_dir.is_dir() else 0
        if catalog is None:
            return IndexStats(documents=0, chunks=0, namespaces={}, index_kind=self.config.kind,
                              embedder=self.embedder.name, dimension=None, generation=0,
                              disk_bytes=disk, index_dir=str(self.index_dir))
        namespaces = catalog.namespaces()
        return IndexStats(documents=sum(namespaces.values()), chunks=catalog.count_chunks(),
                          namespaces=namespaces, index_kind=self.config.kind,
                          embedder=catalog.get_meta("embedder") or self.embedder.name,
                          dimension=self._dimension(), generation=catalog.generation(),
                          disk_bytes=disk, index_dir=str(self.index_dir))

    def search(self, query: str, *, k: int = 4, namespace: str = "default",
               filters: dict[str, Any] | None = None, mode: SearchMode | None = None) -> list[SearchHit]:
        """The ``k`` best chunks of ``namespace`` for ``query``, best first.

        ``mode``: dense (cosine), bm25, or hybrid (reciprocal rank fusion of both; the default).
        ``filters``: equality on doc_id / source / title / format or user metadata (a list value
        means any of). A configured cross-encoder re-ranks the candidates.
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequestError("the query is empty")
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidRequestError(f"k must be between 1 and {MAX_K}")
        mode = mode or self.config.retrieval
        if mode not in ("dense", "bm25", "hybrid"):
            raise InvalidRequestError(f"unknown search mode {mode!r} (dense, bm25, hybrid)")
        check_namespace(namespace)
        with self._lock:
            catalog = self.catalog
            if catalog is None:
                return []
            self._refresh()
            allowed = catalog.chunk_ids(namespace, filters) if filters else None
            if allowed is not None and len(allowed) == 0:
                return []
            n = max(self.config.candidates, k)
            query_vector = None
            dense: dict[int, float] = {}
            dense_ranking: list[int] = []
            bm25: dict[int, float] = {}
            bm25_ranking: list[int] = []
            if mode in ("dense", "hybrid"):
                vectors = self._vectors_for(namespace)
                if vectors is not None:
                    query_vector = self.embedder.encode([query])[0]
                    ids, scores = vectors.search(query_vector, n, allowed)
                    dense_ranking = [int(i) for i in ids]
                    dense = dict(zip(dense_ranking, (float(s) for s in scores), strict=True))
            if mode in ("bm25", "hybrid"):
                lexical = self._lexical_for(namespace)
                if lexical is not None:
                    ids, _scores, bm25 = lexical.search(query, n, allowed)
                    bm25_ranking = [int(i) for i in ids]
            if mode == "dense":
                ranked = [(i, dense[i]) for i in dense_ranking]
            elif mode == "bm25":
                ranked = [(i, bm25[i]) for i in bm25_ranking]
            else:
                ranked = reciprocal_rank_fusion([dense_ranking, bm25_ranking], self.config.rrf_k)
            rows = catalog.chunk_rows(i for i, _ in ranked)
            ranked = [(i, s) for i, s in ranked if i in rows]
            if query_vector is not None:
                unscored = [i for i, _ in ranked if i not in dense]
                if unscored:
                    ids, vecs = catalog.embeddings(unscored)
                    dense.update(zip((int(i) for i in ids), (float(v) for v in vecs @ query_vector),
                                     strict=True))
        if self.reranker is not None and ranked:
            scores = self.reranker.scores(query, [rows[i].text for i, _ in ranked])
            ranked = sorted(zip((i for i, _ in ranked), scores, strict=True), key=lambda p: -p[1])
        return [self._hit(rows[i], score, dense.get(i), bm25.get(i)) for i, score in ranked[:k]]

    @staticmethod
    def _hit(row: ChunkRow, score: float, dense_score: float | None,
             bm25_score: float | None) -> SearchHit:
        return SearchHit(doc_id=row.doc_id, chunk_id=f"{row.doc_id}:{row.position}", title=row.title,
                         section=row.section, source=row.source, text=row.text, score=float(score),
                         dense_score=dense_score, bm25_score=bm25_score, metadata=row.metadata)
