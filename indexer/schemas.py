"""Pydantic models at the indexer's boundaries: loaded documents, chunks, reports and hits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

OutcomeStatus = Literal["added", "replaced", "skipped", "removed", "failed"]
SearchMode = Literal["dense", "bm25", "hybrid"]


class Section(BaseModel):
    """A run of text under one heading (``title`` empty for text before the first heading)."""

    title: str = ""
    text: str
    page: int | None = None
    """The (1-based) page of a paged document, e.g. a PDF, where this text is; None elsewhere."""


class LoadedDocument(BaseModel):
    """One document as a loader returns it, before cleaning and chunking."""

    key: str = ""
    """Identifies the document inside its file: empty for whole files, the record id for records."""
    title: str
    sections: list[Section]
    format: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Metadata the file itself carries (e.g. a record's category); the user's metadata wins."""


class Chunk(BaseModel):
    """One piece of a document as stored and embedded."""

    position: int
    section: str
    text: str
    content_hash: str
    tokens: int
    page: int | None = None
    """The page it starts on (PDFs), shown in citations."""
    page_end: int | None = None
    """The page it ends on, when it goes on over a page end (else None)."""

    def embedding_input(self, title: str) -> str:
        """What the embedder and BM25 see: title and section give short chunks their context."""
        heading = " — ".join(part for part in (title, self.section) if part)
        return f"{heading}\n{self.text}" if heading else self.text


class DocumentOutcome(BaseModel):
    """What happened to one document of an add."""

    doc_id: str | None = None
    source: str
    title: str | None = None
    status: OutcomeStatus
    chunks: int = 0
    reason: str | None = None
    """Why it failed (one line); None otherwise."""
    status_code: int | None = None
    """For failures: the HTTP status that fits (400, 413, 415, 422)."""
    pii_masked: dict[str, int] = Field(default_factory=dict)
    """Personal data masked in this document, by kind (indexing with PII masking on)."""


class AddReport(BaseModel):
    """The outcome of ``add_paths`` / ``add_bytes``, one entry per document."""

    namespace: str
    documents: list[DocumentOutcome] = Field(default_factory=list)
    chunks_embedded: int = 0
    """Chunks sent to the embedder (re-used embeddings of unchanged chunks are not counted)."""
    seconds: float = 0.0

    def count(self, status: OutcomeStatus) -> int:
        return sum(1 for d in self.documents if d.status == status)

    @property
    def added(self) -> int:
        return self.count("added")

    @property
    def replaced(self) -> int:
        return self.count("replaced")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def removed(self) -> int:
        return self.count("removed")

    @property
    def failed(self) -> list[DocumentOutcome]:
        return [d for d in self.documents if d.status == "failed"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pii_masked(self) -> dict[str, int]:
        """Personal data masked across the stored documents, by kind."""
        total: dict[str, int] = {}
        for document in self.documents:
            for kind, count in document.pii_masked.items():
                total[kind] = total.get(kind, 0) + count
        return total

    def summary(self) -> str:
        masked = ", ".join(f"{kind} {count}" for kind, count in self.pii_masked.items())
        return (
            f"{self.added} added, {self.replaced} replaced, {self.skipped} unchanged, "
            f"{self.removed} removed, {len(self.failed)} failed; "
            f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f} s"
            + (f"; PII masked: {masked}" if masked else "")
        )


class DocumentInfo(BaseModel):
    """A stored document."""

    doc_id: str
    title: str
    source: str
    namespace: str
    chunks: int
    content_hash: str
    added_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    format: str = ""


class SearchHit(BaseModel):
    """One retrieved chunk, best first in a result list."""

    doc_id: str
    chunk_id: str
    title: str
    section: str
    source: str
    text: str
    score: float
    """The ranking score of the chosen mode (cosine for dense, BM25 for bm25, RRF for hybrid)."""
    dense_score: float | None = None
    """Cosine similarity of query and chunk; filled whenever the embedder ran."""
    bm25_score: float | None = None
    page: int | None = None
    """The (1-based) page of a PDF the chunk starts on; None for documents without pages."""
    page_end: int | None = None
    """The page it ends on when that is a later one (a chunk across a page end); else None."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class IndexStats(BaseModel):
    """What the store holds and how it is built."""

    documents: int
    chunks: int
    namespaces: dict[str, int]
    """Namespace -> number of documents."""
    index_kind: str
    embedder: str
    dimension: int | None
    generation: int
    disk_bytes: int
    index_dir: str
