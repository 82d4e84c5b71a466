"""``ragtune data from-feedback``: rated exchanges become a training file.

Answers rated good become examples as they are; a rater's correction replaces the answer (whatever
the rating). The examples then go through ``training.prep.prepare`` — the very steps of
``ragtune data prep``: validation, cleaning, de-duplication, the same PII masking, the split — and
are written in the normal form ``ragtune train`` reads, with the prep report beside them.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from ragtune.errors import RagtuneError
from ragtune.settings import Settings
from services.improve.exchanges import ExchangeStore, RatedExchange
from training.prep import PrepReport, prepare, write_prepared

FEEDBACK_DB = "feedback.sqlite"
"""The gateway's feedback database under RAGTUNE_HOME (``services.gateway.app.FEEDBACK_DB``)."""


class FromFeedbackReport(BaseModel):
    """What ``from-feedback`` wrote."""

    out: str
    rated: int
    """Kept exchanges rated since the date."""
    good: int
    """Of which answers rated good, used as they are."""
    corrected: int
    """Of which with a rater's correction (used instead of the answer)."""
    skipped: int
    """Rated bad without a correction: not training data."""
    prep: PrepReport | None = None
    """The ``data prep`` report (kept, duplicates dropped, PII masked …); None when nothing was written."""


def example_of(exchange: RatedExchange) -> dict | None:
    """The training example of one rated exchange (None when it is no training data)."""
    target = exchange.correction or (exchange.answer if exchange.rating == 1 else None)
    if not target or not target.strip():
        return None
    return {
        "id": f"fb-{exchange.request_id}",
        "messages": [
            {"role": "user", "content": exchange.question},
            {"role": "assistant", "content": target},
        ],
    }


def from_feedback(
    settings: Settings, out: Path, since: datetime | None = None, *, db: Path | None = None
) -> FromFeedbackReport:
    """Write the training file of the exchanges rated since ``since`` to ``out``.

    ``db``: the feedback database (default ``RAGTUNE_HOME/feedback.sqlite``, the gateway's).

    Raises RagtuneError when nothing is usable (the report says why: nothing kept, nothing good).
    """
    db = Path(db) if db is not None else settings.home / FEEDBACK_DB
    if not db.is_file():
        raise RagtuneError(f"no feedback database at {db}: serve the gateway and rate some answers first")
    store = ExchangeStore.open(db, settings)
    try:
        rated = store.rated_since(since)
    finally:
        store.close()
    examples = [e for e in (example_of(x) for x in rated) if e is not None]
    report = FromFeedbackReport(
        out=str(out),
        rated=len(rated),
        good=sum(1 for x in rated if x.rating == 1 and not x.correction),
        corrected=sum(1 for x in rated if x.correction),
        skipped=len(rated) - len(examples),
    )
    if not examples:
        raise RagtuneError(
            f"no training data: {report.rated} kept exchange(s) rated since {since or 'the start'}, none rated good "
            "or corrected (exchanges are kept only for tenants with keep_exchanges)"
        )
    hp = settings.train
    with tempfile.TemporaryDirectory(prefix="ragtune-feedback-") as tmp:
        raw = Path(tmp) / "feedback.jsonl"
        raw.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
        prepared = prepare(
            raw,
            eval_fraction=hp.eval_fraction,
            seed=hp.seed,
            near_duplicate_threshold=hp.near_duplicate_threshold,
            phone_region=hp.pii_phone_region,
            pii=settings.pii,
        )
    prepared.report.source = f"{db} (rated since {since.isoformat() if since else 'the start'})"
    write_prepared(prepared, out)
    report.prep = prepared.report
    return report
