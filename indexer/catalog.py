"""The SQLite catalog: documents, chunks (text, metadata, embedding) and a generation counter.

SQLite is the source of truth; FAISS files are a derived cache that can always be rebuilt from the
embeddings stored here. Every document is written in one transaction, so a crash leaves each
document either fully stored or absent. WAL mode lets readers in other processes run while one
writer commits. ``generation`` (global and per namespace) increases with every committed change;
readers compare it to notice changes made by other processes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import IndexerError, InvalidRequestError
from indexer.schemas import Chunk, DocumentInfo
from ragtune import crypto
from ragtune.crypto import DataKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, source TEXT NOT NULL, origin TEXT NOT NULL,
    title TEXT NOT NULL, format TEXT NOT NULL, content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL, added_at TEXT NOT NULL, chunks INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS documents_namespace ON documents(namespace);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(namespace, origin);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    namespace TEXT NOT NULL, position INTEGER NOT NULL, section TEXT NOT NULL, text TEXT NOT NULL,
    content_hash TEXT NOT NULL, embed_hash TEXT NOT NULL, tokens INTEGER NOT NULL,
    embedding BLOB NOT NULL, page INTEGER, page_end INTEGER);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_namespace ON chunks(namespace);
CREATE INDEX IF NOT EXISTS chunks_embed_hash ON chunks(embed_hash);
"""

PAGE_COLUMNS = ("page", "page_end")
"""Chunk columns added after the first catalogs were written (added on open, NULL in old rows)."""
DOCUMENT_COLUMNS = {"doc_id", "source", "title", "format", "namespace", "origin"}
_FILTER_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk joined with its document."""

    id: int
    doc_id: str
    position: int
    section: str
    text: str
    title: str
    source: str
    metadata: dict[str, Any]
    page: int | None = None
    page_end: int | None = None


@dataclass(frozen=True)
class NewDocument:
    """Everything one document commit writes."""

    doc_id: str
    namespace: str
    source: str
    origin: str
    title: str
    format: str
    content_hash: str
    metadata: dict[str, Any]
    chunks: list[Chunk]
    embed_hashes: list[str]
    embeddings: np.ndarray


def filter_clause(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL (on alias ``d`` = documents) and parameters for equality filters.

    A value may be a scalar or a list (any of). Built-in keys: doc_id, source, title, format;
    any other key matches the user metadata, where list-valued metadata matches if it contains
    the value.
    """
    if not filters:
        return "", []
    clauses, params = [], []
    for key, wanted in filters.items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise InvalidRequestError(f"invalid filter key {key!r} (letters, digits, _ . - only)")
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise InvalidRequestError(f"filter {key!r} must be a string, number, boolean or a non-empty list of them")
        marks = ",".join("?" * len(values))
        if key in DOCUMENT_COLUMNS:
            clauses.append(f"d.{key} IN ({marks})")
        else:
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(d.metadata, '$.\"{key}\"') WHERE json_each.value IN ({marks}))"
            )
        params.extend(values)
    return " AND " + " AND ".join(clauses), params


class Catalog:
    """SQLite access for one index folder."""

    def __init__(self, path: Path, *, read_only: bool = False, key: DataKey | None = None) -> None:
        """``key``: the catalog is (or becomes, when new) an SQLCipher database under it; a wrong or
        missing key raises ``ragtune.crypto.EncryptionError``."""
        self.path = path
        self.read_only = read_only
        self._page_sql: str | None = None
        try:
            if read_only:
                self.db = crypto.connect(path, key, read_only=True, what="the index catalog", check_same_thread=False)
            else:
                self.db = crypto.connect(
                    path, key, what="the index catalog", check_same_thread=False, isolation_level=None
                )
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
                self._add_missing_columns()
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=30000")
        except crypto.database_errors() as exc:
            raise IndexerError(f"the index catalog {path} cannot be opened: {exc}") from None

    def _add_missing_columns(self) -> None:
        """Columns newer than a catalog written by an earlier version (their values stay NULL)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}
        for column in PAGE_COLUMNS:
            if column not in columns:
                try:
                    self.db.execute(f"ALTER TABLE chunks ADD COLUMN {column} INTEGER")
                except crypto.database_errors() as exc:
                    if "duplicate column" not in str(exc):  # another process added it just now
                        raise

    def _page_columns(self) -> str:
        """``c.page, c.page_end``, or NULLs on a read-only catalog written before pages were stored."""
        if self._page_sql is None:
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(chunks)")}
            self._page_sql = ", ".join(f"c.{c}" if c in columns else "NULL" for c in PAGE_COLUMNS)
        return self._page_sql

    def close(self) -> None:
        if not self.read_only:
            try:  # fold the write-ahead log into the database file so the folder stays small
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except crypto.database_errors():
                pass  # a reader holds the log open; SQLite checkpoints later
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: BEGIN IMMEDIATE … COMMIT (ROLLBACK on any error)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- meta and generations -----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        value = self.get_meta("generation")
        return int(value) if value else 0

    def chunk_digest(self, namespace: str) -> str:
        """sha256 over the namespace's (chunk id, embedding hash) pairs: equal exactly when a FAISS
        file saved with it holds the same vectors under the same ids."""
        import hashlib

        digest = hashlib.sha256()
        for chunk_id, embed_hash in self.db.execute(
            "SELECT id, embed_hash FROM chunks WHERE namespace = ? ORDER BY id", (namespace,)
        ):
            digest.update(f"{chunk_id}:{embed_hash}\n".encode())
        return digest.hexdigest()

    def namespace_generations(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT namespace, generation FROM namespaces").fetchall())

    def _bump(self, db: sqlite3.Connection, namespace: str) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        db.execute(
            "INSERT INTO namespaces(namespace, generation) VALUES (?, 1) ON CONFLICT(namespace) "
            "DO UPDATE SET generation = generation + 1",
            (namespace,),
        )

    # --- writes -------------------------------------------------------------------------
    def write_document(self, doc: NewDocument) -> tuple[list[int], list[int]]:
        """Replace (or create) one document and its chunks atomically.

        Returns (ids of the chunks removed, ids of the chunks added).
        """
        now = datetime.now(UTC).isoformat()
        with self.transaction() as db:
            old = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc.doc_id,))]
            db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
            db.execute(
                "INSERT OR REPLACE INTO documents(doc_id, namespace, source, origin, title, format, "
                "content_hash, metadata, added_at, chunks) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    doc.doc_id,
                    doc.namespace,
                    doc.source,
                    doc.origin,
                    doc.title,
                    doc.format,
                    doc.content_hash,
                    json.dumps(doc.metadata, ensure_ascii=False),
                    now,
                    len(doc.chunks),
                ),
            )
            new = []
            for chunk, embed_hash, vector in zip(doc.chunks, doc.embed_hashes, doc.embeddings, strict=True):
                cursor = db.execute(
                    "INSERT INTO chunks(doc_id, namespace, position, section, text, content_hash, "
                    "embed_hash, tokens, embedding, page, page_end) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        doc.doc_id,
                        doc.namespace,
                        chunk.position,
                        chunk.section,
                        chunk.text,
                        chunk.content_hash,
                        embed_hash,
                        chunk.tokens,
                        np.asarray(vector, dtype=np.float32).tobytes(),
                        chunk.page,
                        chunk.page_end,
                    ),
                )
                assert cursor.lastrowid is not None
                new.append(cursor.lastrowid)
            self._bump(db, doc.namespace)
        return old, new

    def delete_documents(self, doc_ids: list[str]) -> dict[str, list[int]]:
        """Delete documents atomically; returns namespace -> removed chunk ids."""
        removed: dict[str, list[int]] = {}
        with self.transaction() as db:
            for doc_id in doc_ids:
                rows = db.execute("SELECT id, namespace FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
                ns_row = db.execute("SELECT namespace FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
                if ns_row is None:
                    continue
                removed.setdefault(ns_row[0], []).extend(r[0] for r in rows)
                db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
                db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            for namespace in removed:
                self._bump(db, namespace)
        return removed

    # --- reads --------------------------------------------------------------------------
    def document_hash(self, doc_id: str) -> tuple[str, str] | None:
        """(content_hash, namespace) of a stored document, or None."""
        row = self.db.execute("SELECT content_hash, namespace FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def existing_doc_ids(self, doc_ids: Iterable[str], namespace: str | None) -> set[str]:
        ids = list(doc_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            sql = f"SELECT doc_id FROM documents WHERE doc_id IN ({','.join('?' * len(part))})"
            params: list[Any] = list(part)
            if namespace is not None:
                sql += " AND namespace = ?"
                params.append(namespace)
            found.update(r[0] for r in self.db.execute(sql, params))
        return found

    def doc_ids_from_origin(self, namespace: str, origin: str) -> set[str]:
        return {
            r[0]
            for r in self.db.execute(
                "SELECT doc_id FROM documents WHERE namespace = ? AND origin = ?", (namespace, origin)
            )
        }

    def embeddings_by_hash(self, namespace: str, embed_hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored embeddings of chunks with these embedding-input hashes (to skip re-encoding)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(embed_hashes))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            rows = self.db.execute(
                f"SELECT embed_hash, embedding FROM chunks WHERE namespace = ? AND embed_hash IN "
                f"({','.join('?' * len(part))})",
                [namespace, *part],
            )
            for embed_hash, blob in rows:
                found[embed_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def list_documents(self, namespace: str | None = None) -> list[DocumentInfo]:
        sql = "SELECT doc_id, title, source, namespace, chunks, content_hash, added_at, metadata, format FROM documents"
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " WHERE namespace = ?"
            params = (namespace,)
        sql += " ORDER BY namespace, source"
        return [
            DocumentInfo(
                doc_id=r[0],
                title=r[1],
                source=r[2],
                namespace=r[3],
                chunks=r[4],
                content_hash=r[5],
                added_at=datetime.fromisoformat(r[6]),
                metadata=json.loads(r[7]),
                format=r[8],
            )
            for r in self.db.execute(sql, params)
        ]

    def namespaces(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT namespace, COUNT(*) FROM documents GROUP BY namespace ORDER BY namespace"))

    def count_chunks(self, namespace: str | None = None) -> int:
        if namespace is None:
            return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM chunks WHERE namespace = ?", (namespace,)).fetchone()[0])

    def chunk_ids(self, namespace: str, filters: dict[str, Any] | None = None) -> np.ndarray:
        """Ids of the chunks of a namespace that pass ``filters`` (int64, ascending)."""
        where, params = filter_clause(filters)
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
            f"WHERE c.namespace = ?{where} ORDER BY c.id",
            [namespace, *params],
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def embeddings(self, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the given chunk ids that exist (order of the returned ids)."""
        wanted = [int(i) for i in ids]
        out_ids, out_vecs = [], []
        for start in range(0, len(wanted), 900):
            part = wanted[start : start + 900]
            for chunk_id, blob in self.db.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(part))})", part
            ):
                out_ids.append(chunk_id)
                out_vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not out_ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(out_ids, dtype=np.int64), np.vstack(out_vecs)

    def all_embeddings(self, namespace: str) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) of a namespace, read in one pass."""
        ids, vecs = [], []
        for chunk_id, blob in self.db.execute(
            "SELECT id, embedding FROM chunks WHERE namespace = ? ORDER BY id", (namespace,)
        ):
            ids.append(chunk_id)
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(ids, dtype=np.int64), np.vstack(vecs)

    def texts(self, namespace: str) -> tuple[np.ndarray, list[str]]:
        """(ids, text the lexical index sees: title, section and chunk) of a namespace."""
        rows = self.db.execute(
            "SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d "
            "ON d.doc_id = c.doc_id WHERE c.namespace = ? ORDER BY c.id",
            (namespace,),
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        texts = [
            Chunk(position=0, section=r[2], text=r[3], content_hash="", tokens=0).embedding_input(r[1]) for r in rows
        ]
        return ids, texts

    def chunk_rows(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        wanted = [int(i) for i in ids]
        found: dict[int, ChunkRow] = {}
        for start in range(0, len(wanted), 900):
            part = wanted[start : start + 900]
            for r in self.db.execute(
                "SELECT c.id, c.doc_id, c.position, c.section, c.text, d.title, d.source, d.metadata, "
                f"{self._page_columns()} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
                f"WHERE c.id IN ({','.join('?' * len(part))})",
                part,
            ):
                found[r[0]] = ChunkRow(
                    id=r[0],
                    doc_id=r[1],
                    position=r[2],
                    section=r[3],
                    text=r[4],
                    title=r[5],
                    source=r[6],
                    metadata=json.loads(r[7]),
                    page=r[8],
                    page_end=r[9],
                )
        return found
