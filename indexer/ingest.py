"""Ingest: files → prepared documents → one embedding call per batch → the store.

``ingest`` is the add loop behind ``DocumentStore.add_paths`` and ``add_bytes``: it prepares each
file (load, clean, chunk, de-duplicate), skips unchanged documents, embeds the new chunks of a
batch in one call (reusing embeddings of chunks already stored), writes each document in its own
transaction and removes records a file no longer holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.catalog import NewDocument
from indexer.errors import DocumentNotFoundError, IndexerError, UnreadableDocumentError
from indexer.loaders import FORMATS
from indexer.pipeline import PreparedDocument, prepare_file
from indexer.schemas import AddReport, DocumentOutcome, OutcomeStatus

if TYPE_CHECKING:
    from indexer.store import DocumentStore

Progress = Callable[[str, float], None]
"""Called with (what is happening, fraction done in [0, 1])."""
FileItem = tuple[str, str, Callable[[], bytes]]
"""(file name, source, read the bytes)."""

EMBED_BATCH_CHUNKS = 256
"""Chunks gathered across documents before one ``encode`` call (keeps batches full)."""
SAVE_EVERY_S = 30.0


def no_progress(_step: str, _fraction: float) -> None:
    return None


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named plus supported files under folders (recursive, hidden ones skipped)."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise DocumentNotFoundError(f"no such file or folder: {', '.join(missing)}")
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in FORMATS
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        else:
            files.append(path)
    return list(dict.fromkeys(p.resolve() for p in files))


def file_reader(path: Path, limit: int) -> Callable[[], bytes]:
    """Reads ``path``, never more than ``limit`` + 1 bytes (so a huge file fails fast)."""

    def reader() -> bytes:
        try:
            with path.open("rb") as handle:
                return handle.read(limit + 1)
        except OSError as exc:
            raise UnreadableDocumentError(f"{path}: cannot read ({exc.strerror})") from None

    return reader


def commit(
    store: DocumentStore, batch: list[tuple[PreparedDocument, OutcomeStatus]], report: AddReport, namespace: str
) -> None:
    """Embed the batch's new chunks in one call, then store each document atomically."""
    catalog = store.writable()
    inputs: list[str] = []
    reused: list[dict[str, np.ndarray]] = []
    for doc, _status in batch:
        known = catalog.embeddings_by_hash(namespace, doc.embed_hashes)
        reused.append(known)
        inputs.extend(t for t, h in zip(doc.embed_inputs, doc.embed_hashes, strict=True) if h not in known)
    encoded = iter(store.write_embedder.encode_document(inputs))
    report.chunks_embedded += len(inputs)
    for (doc, status), known in zip(batch, reused, strict=True):
        vectors = np.vstack([known[h] if h in known else next(encoded) for h in doc.embed_hashes])
        store.write_document(
            NewDocument(
                doc_id=doc.doc_id,
                namespace=namespace,
                source=doc.source,
                origin=doc.origin,
                title=doc.title,
                format=doc.format,
                content_hash=doc.content_hash,
                metadata=doc.metadata,
                chunks=doc.chunks,
                embed_hashes=doc.embed_hashes,
                embeddings=vectors,
            )
        )
        report.documents.append(
            DocumentOutcome(
                doc_id=doc.doc_id,
                source=doc.source,
                title=doc.title,
                status=status,
                chunks=len(doc.chunks),
                pii_masked=doc.pii_masked,
            )
        )


def ingest(
    store: DocumentStore,
    files: Iterator[FileItem],
    total: int,
    *,
    namespace: str,
    metadata: dict[str, Any],
    progress: Progress,
    raise_errors: bool,
) -> AddReport:
    """Add the files to ``namespace`` under the store's writer lock; a file that cannot be indexed
    is reported as failed (or raised, with ``raise_errors``)."""
    catalog = store.writable()
    started = time.perf_counter()
    report = AddReport(namespace=namespace)
    with store.writing(namespace):
        chunker = store.chunker()
        batch: list[tuple[PreparedDocument, OutcomeStatus]] = []
        batch_chunks = 0
        origins: dict[str, set[str]] = {}
        last_save = time.perf_counter()
        for done, (filename, source, read) in enumerate(files):
            progress(f"{Path(filename).name}", done / max(total, 1))
            try:
                prepared = prepare_file(
                    read(),
                    filename,
                    namespace=namespace,
                    source=source,
                    user_metadata=metadata,
                    chunker=chunker,
                    config=store.config,
                    embedder_name=store.embedder.name,
                )
            except IndexerError as err:
                if raise_errors:
                    raise
                report.documents.append(
                    DocumentOutcome(source=source, status="failed", reason=str(err), status_code=err.status_code)
                )
                continue
            if len(prepared) > 1 or (prepared and prepared[0].source != source):
                origins[source] = {doc.doc_id for doc in prepared}
            for doc in prepared:
                previous = catalog.document_hash(doc.doc_id)
                if previous is not None and previous[0] == doc.content_hash:
                    report.documents.append(
                        DocumentOutcome(
                            doc_id=doc.doc_id,
                            source=doc.source,
                            title=doc.title,
                            status="skipped",
                            chunks=len(doc.chunks),
                        )
                    )
                    continue
                batch.append((doc, "replaced" if previous is not None else "added"))
                batch_chunks += len(doc.chunks)
            if batch_chunks >= EMBED_BATCH_CHUNKS:
                commit(store, batch, report, namespace)
                batch, batch_chunks = [], 0
                if time.perf_counter() - last_save > SAVE_EVERY_S:
                    store.save_vectors({namespace})
                    last_save = time.perf_counter()
        if batch:
            commit(store, batch, report, namespace)
        for origin, kept in origins.items():
            stale = sorted(catalog.doc_ids_from_origin(namespace, origin) - kept)
            if stale:
                store.delete(stale)
                report.documents.extend(DocumentOutcome(doc_id=d, source=origin, status="removed") for d in stale)
        progress("done", 1.0)
    report.seconds = time.perf_counter() - started
    return report
