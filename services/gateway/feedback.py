"""Durable request log and user feedback in SQLite (RAGTUNE_HOME/feedback.sqlite), and the KPIs.

Every answered request is logged (id, tenant, mode, adapter, tokens, cost) so feedback can be tied
to how the answer was made; feedback rows are committed with a full sync before the API says 200.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragtune import crypto
from ragtune.crypto import DataKey
from ragtune.errors import NotFoundError
from services.gateway.schemas import ChatResponse, FeedbackRequest, KpiRow, KpiSummary, share

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    mode TEXT NOT NULL,
    adapter TEXT,
    refused INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    latency_ms REAL NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_tenant_created ON requests (tenant, created);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY REFERENCES requests(request_id),
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    resolved INTEGER NOT NULL,
    comment TEXT,
    created REAL NOT NULL
);
"""
MIGRATIONS = (("feedback", "handling_s", "REAL"),)
"""Columns added after a table's first release: (table, column, type), added where missing."""


def where_clause(conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``WHERE a AND b …`` (or '') and its arguments, for the (SQL, value) conditions whose value
    is not None."""
    kept = [(sql, value) for sql, value in conditions if value is not None]
    return ("WHERE " + " AND ".join(sql for sql, _ in kept) if kept else ""), [value for _, value in kept]


class FeedbackStore:
    """Thread-safe SQLite store; one connection guarded by a lock (calls take microseconds)."""

    def __init__(self, path: Path, key: DataKey | None = None) -> None:
        """``key``: the whole database (every table, also those added later) is SQLCipher-encrypted
        under it; a missing or wrong key raises ``ragtune.crypto.EncryptionError``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = crypto.connect(
            path, key, what="the feedback and request log", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for table, column, kind in MIGRATIONS:
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def add_schema(self, script: str) -> None:
        """Create more tables in this database (``CREATE TABLE IF NOT EXISTS`` statements): the
        ratings live beside the request log, so whatever protects this file protects them too."""
        with self._lock:
            self._db.executescript(script)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read-only query (the reports built on this database)."""
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (rolled back on error); ``durable`` syncs the
        commit to disk before returning (``synchronous=FULL``), as feedback does."""
        with self._lock:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def log_request(self, response: ChatResponse, tenant: str, *, created: float | None = None) -> None:
        """Remember how a request was answered (cheap: WAL, no fsync per row); ``created``: when
        (epoch seconds, default now)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    response.id,
                    tenant,
                    response.mode,
                    response.adapter,
                    int(response.refused),
                    response.usage.prompt_tokens,
                    response.usage.completion_tokens,
                    response.cost.usd,
                    response.latency_ms.total,
                    time.time() if created is None else created,
                ),
            )

    def spend_since(self, tenant: str, since: float) -> tuple[int, float]:
        """Tokens (prompt + completion) and USD of ``tenant``'s requests logged since ``since``
        (epoch seconds): the daily budgets (``services.gateway.budgets``)."""
        with self._lock:
            tokens, usd = self._db.execute(
                "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost_usd), 0.0) "
                "FROM requests WHERE tenant = ? AND created >= ?",
                (tenant, since),
            ).fetchone()
        return int(tokens), float(usd)

    def add_feedback(self, feedback: FeedbackRequest, tenant: str | None, *, created: float | None = None) -> None:
        """Store feedback for a known request; NotFoundError when the id (for this tenant) is unknown.

        ``tenant`` None means any tenant's request may be rated (the local, key-less user);
        ``created``: when (epoch seconds, default now; the KPI handling time runs from the request).
        """
        with self._lock:
            row = self._db.execute(
                "SELECT tenant FROM requests WHERE request_id = ?", (feedback.request_id,)
            ).fetchone()
            if row is None or (tenant is not None and row[0] != tenant):
                raise NotFoundError(f"unknown request id '{feedback.request_id}'")
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO feedback (request_id, rating, resolved, comment, created, handling_s) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        feedback.request_id,
                        feedback.rating,
                        int(feedback.resolved),
                        feedback.comment,
                        time.time() if created is None else created,
                        feedback.handling_s,
                    ),
                )
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def kpis(self, tenant: str | None = None) -> KpiSummary:
        """Share of requests rated good and resolved without a human, per mode and adapter."""
        where, args = where_clause([("r.tenant = ?", tenant)])
        query = f"""
            SELECT r.mode, r.adapter, COUNT(*), COUNT(f.request_id),
                   COALESCE(SUM(f.rating = 1), 0), COALESCE(SUM(f.resolved = 1), 0)
            FROM requests r LEFT JOIN feedback f ON f.request_id = r.request_id
            {where} GROUP BY r.mode, r.adapter ORDER BY r.mode, r.adapter
        """
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        kpi_rows = [
            KpiRow.counted(mode=mode, adapter=adapter, requests=requests, rated=rated, good=good, resolved=resolved)
            for mode, adapter, requests, rated, good, resolved in rows
        ]
        requests = sum(r.requests for r in kpi_rows)
        rated = sum(r.rated for r in kpi_rows)
        return KpiSummary(
            requests=requests,
            rated=rated,
            good_share=share(sum(r.good for r in kpi_rows), rated),
            resolved_share=share(sum(r.resolved for r in kpi_rows), rated),
            by_mode_adapter=kpi_rows,
        )
