"""Kept exchanges: the question, answer and cited chunk ids of rated requests, by choice.

A tenant with ``keep_exchanges`` (the local user: ``gateway.keep_exchanges``) has each answered
request's exchange written to the ``exchanges`` table of the feedback database
(``RAGTUNE_HOME/feedback.sqlite``, covered when encryption is on); exchanges that get no feedback
within ``gateway.unrated_exchange_hours`` are deleted, so what stays is the exchanges of rated
requests. A rater's ``correction`` (a better answer) is stored with its exchange. Nothing is kept for
tenants without the setting.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from ragtune.settings import Settings
from services.gateway.feedback import FeedbackStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    request_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    refused INTEGER NOT NULL,
    correction TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_created ON exchanges(created);
"""
LOCAL_TENANT = "local"
"""The tenant name of the key-less local user (``services.gateway.tenants.LOCAL_TENANT``)."""
PURGE_EVERY = 100
"""Kept exchanges between two purges of the unrated ones."""


class RatedExchange(BaseModel):
    """One kept exchange with its feedback (what ``from-feedback`` turns into training data)."""

    request_id: str
    tenant: str
    question: str
    answer: str
    chunk_ids: list[str]
    refused: bool
    rating: int
    correction: str | None
    rated_at: datetime


def keeps_exchanges(settings: Settings, tenant: str) -> bool:
    """True when ``tenant``'s exchanges are kept (its ``keep_exchanges``; the local user: the gateway's)."""
    if tenant == LOCAL_TENANT and not settings.gateway.api_keys:
        return settings.gateway.keep_exchanges
    return any(t.name == tenant and t.keep_exchanges for t in settings.gateway.api_keys.values())


class ExchangeStore:
    """The ``exchanges`` table of the feedback database, through the feedback store's schema, read and
    transaction methods (so whatever opens that database — encrypted or not — opens this table too)."""

    def __init__(self, feedback: FeedbackStore, settings: Settings) -> None:
        self.feedback = feedback
        self.settings = settings
        self._since_purge = 0
        feedback.add_schema(SCHEMA)

    @classmethod
    def open(cls, path: Path, settings: Settings) -> ExchangeStore:
        """The store of the feedback database at ``path`` on a connection of its own (the CLI);
        ``close`` closes it."""
        from ragtune.crypto import load_key

        return cls(FeedbackStore(path, key=load_key(settings)), settings)

    def close(self) -> None:
        """Close the feedback store's connection (only for a store from ``open``)."""
        self.feedback.close()

    def keep(
        self, request_id: str, tenant: str, question: str, answer: str, chunk_ids: list[str], refused: bool
    ) -> bool:
        """Keep one exchange when ``tenant`` keeps exchanges; False (nothing stored) otherwise."""
        if not keeps_exchanges(self.settings, tenant):
            return False
        with self.feedback.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO exchanges VALUES (?,?,?,?,?,?,NULL,?)",
                (request_id, tenant, question, answer, json.dumps(chunk_ids), int(refused), time.time()),
            )
            self._since_purge += 1
            due = self._since_purge >= PURGE_EVERY
        if due:
            self.purge_unrated()
        return True

    def add_correction(self, request_id: str, correction: str) -> bool:
        """Store a rater's better answer with the kept exchange; False when the exchange is not kept."""
        with self.feedback.transaction() as db:
            cursor = db.execute("UPDATE exchanges SET correction = ? WHERE request_id = ?", (correction, request_id))
            return cursor.rowcount > 0

    def purge_unrated(self, now: float | None = None) -> int:
        """Delete the kept exchanges that got no feedback in time; returns how many."""
        cutoff = (now if now is not None else time.time()) - self.settings.gateway.unrated_exchange_hours * 3600
        with self.feedback.transaction() as db:
            self._since_purge = 0
            cursor = db.execute(
                "DELETE FROM exchanges WHERE created < ? AND request_id NOT IN (SELECT request_id FROM feedback)",
                (cutoff,),
            )
            return cursor.rowcount

    def rated_since(self, since: datetime | None = None) -> list[RatedExchange]:
        """The kept exchanges rated at or after ``since`` (all when None), oldest rating first."""
        query = """
            SELECT e.request_id, e.tenant, e.question, e.answer, e.chunk_ids, e.refused, f.rating,
                   e.correction, f.created
            FROM exchanges e JOIN feedback f ON f.request_id = e.request_id
            WHERE f.created >= ? ORDER BY f.created, e.request_id
        """
        rows = self.feedback.read(query, (since.timestamp() if since else 0.0,))
        return [
            RatedExchange(
                request_id=request_id,
                tenant=tenant,
                question=question,
                answer=answer,
                chunk_ids=json.loads(chunk_ids),
                refused=bool(refused),
                rating=rating,
                correction=correction,
                rated_at=datetime.fromtimestamp(rated, tz=UTC),
            )
            for request_id, tenant, question, answer, chunk_ids, refused, rating, correction, rated in rows
        ]
