"""Errors the indexer raises for input a user can fix (each maps to one HTTP status)."""

from __future__ import annotations

from ragtune.errors import RagtuneError


class IndexerError(RagtuneError):
    """The base of every index error: bad input (4xx; nothing already stored has changed) or an
    index that cannot be used (5xx)."""

    status_code = 400


class IndexUnavailableError(IndexerError):
    """The document index could not be opened; retrieval and the document routes are down."""

    status_code = 503


class UnsupportedFormatError(IndexerError):
    """The file's extension names no format the indexer can load."""

    status_code = 415


class UnreadableDocumentError(IndexerError):
    """The file exists but cannot be read or parsed (corrupt, encrypted, wrong encoding)."""

    status_code = 400


class EmptyDocumentError(IndexerError):
    """The document holds no text once loaded and cleaned."""

    status_code = 422


class DocumentTooLargeError(IndexerError):
    """The document is over the configured size limit (``index.max_document_bytes``)."""

    status_code = 413


class DocumentNotFoundError(IndexerError):
    """A document id, path or namespace that does not exist."""

    status_code = 404


class InvalidRequestError(IndexerError):
    """A malformed namespace, filter or option."""

    status_code = 400


class ReadOnlyIndexError(IndexerError):
    """A write was attempted on a store opened read-only."""

    status_code = 409


class IndexMismatchError(IndexerError):
    """The index on disk was built with another embedder (other dimension or model)."""

    status_code = 409
