"""Document ingestion and the FAISS store (never imports ``services``).

``DocumentStore`` loads company documents (Markdown, text, HTML, PDF, JSON/JSONL/CSV records),
cleans and chunks them by embedder tokens, embeds them with sentence-transformers and keeps them in
FAISS + SQLite with incremental updates; search is dense, BM25 or hybrid (RRF).
"""

from indexer.errors import (
    DocumentNotFoundError,
    DocumentTooLargeError,
    EmptyDocumentError,
    IndexerError,
    IndexMismatchError,
    IndexUnavailableError,
    InvalidRequestError,
    ReadOnlyIndexError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from indexer.schemas import AddReport, DocumentInfo, DocumentOutcome, IndexStats, SearchHit
from indexer.store import DocumentStore

__all__ = [
    "AddReport",
    "DocumentInfo",
    "DocumentNotFoundError",
    "DocumentOutcome",
    "DocumentStore",
    "DocumentTooLargeError",
    "EmptyDocumentError",
    "IndexMismatchError",
    "IndexStats",
    "IndexUnavailableError",
    "IndexerError",
    "InvalidRequestError",
    "ReadOnlyIndexError",
    "SearchHit",
    "UnreadableDocumentError",
    "UnsupportedFormatError",
]
