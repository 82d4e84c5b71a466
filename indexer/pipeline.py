"""From one file's bytes to documents ready to embed: load → clean → chunk → de-duplicate."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from indexer.chunking import TokenChunker
from indexer.cleaning import clean_text
from indexer.errors import DocumentTooLargeError, EmptyDocumentError, InvalidRequestError
from indexer.loaders import format_of, load_bytes
from indexer.schemas import Chunk, LoadedDocument, Section
from ragtune.names import check_name
from ragtune.neardup import duplicate_positions
from ragtune.settings import IndexSettings, PiiSettings


def check_namespace(namespace: str) -> str:
    """The namespace itself if valid (``ragtune.names``), else a 400 error."""
    return check_name(namespace, "namespace", InvalidRequestError)


def make_doc_id(namespace: str, source: str) -> str:
    """Stable id from namespace and source: re-adding the same source replaces the document."""
    return hashlib.sha256(f"{namespace}\x00{source}".encode()).hexdigest()[:16]


def check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """User metadata must be a JSON object of JSON values."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequestError("metadata must be an object of key: value pairs")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"metadata is not JSON-serialisable: {exc}") from None
    return metadata


@dataclass
class PreparedDocument:
    """A cleaned, chunked document with its stable id, waiting to be embedded and stored."""

    doc_id: str
    source: str
    origin: str
    title: str
    format: str
    metadata: dict[str, Any]
    chunks: list[Chunk]
    content_hash: str
    embed_inputs: list[str] = field(default_factory=list)
    embed_hashes: list[str] = field(default_factory=list)
    pii_masked: dict[str, int] = field(default_factory=dict)
    """Personal data masked in this document, by kind (empty unless masking is on)."""


def _clean_sections(sections: list[Section]) -> list[Section]:
    cleaned = [s.model_copy(update={"title": clean_text(s.title), "text": clean_text(s.text)}) for s in sections]
    return [s for s in cleaned if s.text]


def _mask_pii(loaded: LoadedDocument, pii: PiiSettings | None) -> tuple[LoadedDocument, dict[str, int]]:
    """``loaded`` with personal data in its title and sections replaced by placeholders consistent
    within the document (``ragtune.pii``), and what was masked by kind."""
    from ragtune.pii import PiiEngine, PiiMasker

    if pii is None:
        from ragtune.settings import get_settings

        pii = get_settings().pii
    masker = PiiMasker(PiiEngine(pii))
    sections = [
        s.model_copy(update={"title": masker.mask(s.title), "text": masker.mask(s.text)}) for s in loaded.sections
    ]
    masked = loaded.model_copy(update={"title": masker.mask(loaded.title), "sections": sections})
    return masked, masker.counts()


def _signature(config: IndexSettings, embedder_name: str) -> str:
    return f"{embedder_name}|{config.chunk_tokens}|{config.chunk_overlap}|{config.near_duplicate_threshold}"


def prepare_document(
    loaded: LoadedDocument,
    *,
    namespace: str,
    source: str,
    origin: str,
    user_metadata: dict[str, Any],
    chunker: TokenChunker,
    config: IndexSettings,
    embedder_name: str,
    pii: PiiSettings | None = None,
) -> PreparedDocument:
    """Clean, (mask personal data when ``config.masks_pii(namespace)``,) chunk and de-duplicate one
    loaded document; raises EmptyDocumentError if no text."""
    pii_masked: dict[str, int] = {}
    if config.masks_pii(namespace):
        loaded, pii_masked = _mask_pii(loaded, pii)
    sections = _clean_sections(loaded.sections)
    if not sections:
        raise EmptyDocumentError(f"{source}: the document holds no text")
    title = clean_text(loaded.title) or source
    metadata = {**loaded.metadata, **user_metadata}
    chunks = chunker.chunk(sections)
    if len(chunks) > config.max_document_chunks:  # before de-duplication, the costlier step
        raise DocumentTooLargeError(
            f"{source}: {len(chunks)} chunks is over the limit of {config.max_document_chunks} "
            "(index.max_document_chunks); split the document"
        )
    duplicates = duplicate_positions([c.text for c in chunks], config.near_duplicate_threshold)
    chunks = [c for i, c in enumerate(chunks) if i not in duplicates]
    chunks = [c.model_copy(update={"position": i}) for i, c in enumerate(chunks)]
    digest = hashlib.sha256()
    digest.update(_signature(config, embedder_name).encode())
    digest.update(
        json.dumps(
            [title, loaded.format, [s.model_dump(exclude_none=True) for s in sections], metadata],
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        ).encode()
    )
    inputs = [c.embedding_input(title) for c in chunks]
    return PreparedDocument(
        doc_id=make_doc_id(namespace, source),
        source=source,
        origin=origin,
        title=title,
        format=loaded.format,
        metadata=metadata,
        chunks=chunks,
        content_hash=digest.hexdigest(),
        embed_inputs=inputs,
        embed_hashes=[hashlib.sha256(f"{embedder_name}|{t}".encode()).hexdigest() for t in inputs],
        pii_masked=pii_masked,
    )


def prepare_file(
    data: bytes,
    filename: str,
    *,
    namespace: str,
    source: str,
    user_metadata: dict[str, Any],
    chunker: TokenChunker,
    config: IndexSettings,
    embedder_name: str,
    pii: PiiSettings | None = None,
) -> list[PreparedDocument]:
    """All documents of one file (one for a page, one per record for JSON / JSONL / CSV); personal
    data masked when ``config.masks_pii(namespace)`` (engine settings ``pii``, default the global ones)."""
    format_of(filename)
    if len(data) > config.max_document_bytes:
        raise DocumentTooLargeError(
            f"{source}: {len(data):,} bytes is over the limit of {config.max_document_bytes:,} "
            "(index.max_document_bytes)"
        )
    if not data.strip():
        raise EmptyDocumentError(f"{source}: the file is empty")
    loaded_documents = load_bytes(data, filename, config)
    prepared = []
    for loaded in loaded_documents:
        doc_source = f"{source}#{loaded.key}" if loaded.key else source
        prepared.append(
            prepare_document(
                loaded,
                namespace=namespace,
                source=doc_source,
                origin=source,
                user_metadata=user_metadata,
                chunker=chunker,
                config=config,
                embedder_name=embedder_name,
                pii=pii,
            )
        )
    return prepared
