"""Blind rating tasks and their judgements, in the feedback database (``feedback.sqlite``).

A task is a question with two or more answers from different modes or adapter (versions), stored
in a random order under opaque ids; the id → mode/adapter mapping never leaves the server until the
rater has judged. A judgement names the better answer or a tie, with an optional reason; each rater
(the API key's tenant, ``local`` without keys) judges a task once. The tables live in the same
SQLite file as the request log, so whatever protects that file (encryption at rest) covers them.

The answers are generated through the gateway's own answer flow (``generate_answers``: one
retrieval shared by every contestant, as in ``/v1/compare``), or supplied ready-made.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import date
from typing import Literal

from ragtune.errors import ConflictError, NotFoundError, RagtuneError
from services.gateway.feedback import FeedbackStore, where_clause
from services.gateway.kpi_trends import epoch
from services.gateway.pipeline import AnswerPipeline, AnswerQuery
from services.gateway.rating_schemas import (
    TIE,
    BlindAnswer,
    BlindTask,
    JudgementStored,
    NextTask,
    RatingSummary,
    RatingTaskRequest,
    RevealedAnswer,
)
from services.gateway.tenants import Tenant
from services.gateway.win_rates import Judgement, win_rates

SCHEMA = """
CREATE TABLE IF NOT EXISTS rating_tasks (
    task_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    question TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rating_answers (
    answer_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES rating_tasks(task_id),
    position INTEGER NOT NULL,
    mode TEXT NOT NULL,
    adapter TEXT,
    request_id TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rating_answers_task ON rating_answers(task_id, position);
CREATE TABLE IF NOT EXISTS rating_judgements (
    task_id TEXT NOT NULL REFERENCES rating_tasks(task_id),
    rater TEXT NOT NULL,
    choice TEXT,
    reason TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (task_id, rater)
);
"""
By = Literal["contestant", "mode", "adapter"]
NO_ADAPTER = "(no adapter)"


@dataclass(frozen=True)
class MadeAnswer:
    """An answer of a task before it is stored: its text and how it was made."""

    mode: str
    adapter: str | None
    text: str
    request_id: str | None = None


def contestant_label(mode: str, adapter: str | None, by: By = "contestant") -> str:
    """What an answer counts as in the win rates: ``hybrid:NAME@VERSION``, ``hybrid`` or ``NAME@VERSION``."""
    if by == "mode":
        return mode
    if by == "adapter":
        return adapter or NO_ADAPTER
    return f"{mode}:{adapter}" if adapter else mode


async def generate_answers(
    pipeline: AnswerPipeline, body: RatingTaskRequest, tenant: Tenant, *, request_id: str
) -> list[MadeAnswer]:
    """Answer the question once per contestant through the gateway's answer flow (checked like
    ``/v1/chat``: adapters the key may use, input limits), over one shared retrieval."""
    assert body.contestants is not None
    namespace = tenant.namespace_for(body.namespace)
    base = AnswerQuery(
        question=body.question,
        mode=body.contestants[0].mode,
        namespace=namespace,
        top_k=body.top_k,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
    )
    pipeline.check_limits(base)
    retrieval = None
    if any(c.mode.uses_retrieval for c in body.contestants):
        retrieval = await pipeline.retrieve(body.question, namespace, body.top_k)
    plans = []
    for i, contestant in enumerate(body.contestants):
        query = AnswerQuery(**{**base.__dict__, "mode": contestant.mode, "adapter": contestant.adapter})
        plans.append(
            await pipeline.plan(query, tenant, request_id=f"{request_id}-{i}", route="rate", retrieval=retrieval)
        )
    responses = await asyncio.gather(*(pipeline.answer(p) for p in plans))
    return [MadeAnswer(mode=r.mode.value, adapter=r.adapter, text=r.answer, request_id=r.id) for r in responses]


def supplied_answers(body: RatingTaskRequest) -> list[MadeAnswer]:
    """The ready-made answers of a task request."""
    assert body.answers is not None
    return [
        MadeAnswer(mode=a.mode.value, adapter=a.adapter, text=a.text, request_id=a.request_id) for a in body.answers
    ]


class RatingStore:
    """Rating tasks and judgements in the gateway's feedback database."""

    def __init__(self, db: FeedbackStore) -> None:
        self.db = db
        db.add_schema(SCHEMA)

    # --- tasks ------------------------------------------------------------------------------------
    def create_task(
        self, question: str, answers: list[MadeAnswer], tenant: str, *, created: float | None = None
    ) -> BlindTask:
        """Store a task with its answers shuffled under fresh random ids; the blind view of it."""
        if len(answers) < 2:
            raise RagtuneError("a rating task needs at least two answers")
        order = list(answers)
        secrets.SystemRandom().shuffle(order)
        task_id = "task_" + secrets.token_hex(8)
        ids = [secrets.token_hex(8) for _ in order]
        with self.db.transaction(durable=True) as db:
            db.execute(
                "INSERT INTO rating_tasks VALUES (?,?,?,?)",
                (task_id, tenant, question, time.time() if created is None else created),
            )
            db.executemany(
                "INSERT INTO rating_answers VALUES (?,?,?,?,?,?,?)",
                [
                    (answer_id, task_id, position, a.mode, a.adapter, a.request_id, a.text)
                    for position, (answer_id, a) in enumerate(zip(ids, order, strict=True))
                ],
            )
        return BlindTask(
            task_id=task_id,
            question=question,
            answers=[BlindAnswer(id=i, text=a.text) for i, a in zip(ids, order, strict=True)],
        )

    def _task_row(self, task_id: str, tenant: str | None) -> tuple[str, str]:
        rows = self.db.read("SELECT tenant, question FROM rating_tasks WHERE task_id = ?", (task_id,))
        if not rows or (tenant is not None and rows[0][0] != tenant):
            raise NotFoundError(f"unknown rating task '{task_id}'")
        return rows[0][0], rows[0][1]

    def blind(self, task_id: str, tenant: str | None = None) -> BlindTask:
        """The task as a rater sees it (``tenant``: only that tenant's tasks; None: any)."""
        _, question = self._task_row(task_id, tenant)
        rows = self.db.read(
            "SELECT answer_id, text FROM rating_answers WHERE task_id = ? ORDER BY position", (task_id,)
        )
        return BlindTask(task_id=task_id, question=question, answers=[BlindAnswer(id=i, text=t) for i, t in rows])

    def next_task(self, rater: str, tenant: str | None = None) -> NextTask:
        """The oldest task ``rater`` has not judged (of ``tenant``'s tasks, or any), and how many wait."""
        where = "WHERE NOT EXISTS (SELECT 1 FROM rating_judgements j WHERE j.task_id = t.task_id AND j.rater = ?)"
        args: list[str] = [rater]
        if tenant is not None:
            where += " AND t.tenant = ?"
            args.append(tenant)
        rows = self.db.read(f"SELECT t.task_id FROM rating_tasks t {where} ORDER BY t.created, t.rowid", args)
        if not rows:
            return NextTask(task=None, pending=0)
        return NextTask(task=self.blind(rows[0][0], tenant), pending=len(rows))

    # --- judgements -------------------------------------------------------------------------------
    def judge(
        self,
        task_id: str,
        choice: str,
        rater: str,
        *,
        reason: str | None = None,
        tenant: str | None = None,
        created: float | None = None,
    ) -> JudgementStored:
        """Store ``rater``'s judgement (an answer id or ``tie``), durably; reveal the answers.

        NotFoundError for a task ``tenant`` cannot see, RagtuneError for a choice that is no answer
        of it, ConflictError when ``rater`` judged it already."""
        self._task_row(task_id, tenant)
        answers = self.db.read(
            "SELECT answer_id, mode, adapter FROM rating_answers WHERE task_id = ? ORDER BY position", (task_id,)
        )
        if choice != TIE and choice not in {a[0] for a in answers}:
            raise RagtuneError(f"'{choice}' is no answer of task '{task_id}': send one of its answer ids or 'tie'")
        with self.db.transaction(durable=True) as db:
            done = db.execute(
                "SELECT 1 FROM rating_judgements WHERE task_id = ? AND rater = ?", (task_id, rater)
            ).fetchone()
            if done:
                raise ConflictError(f"rating task '{task_id}' is already judged by '{rater}'")
            db.execute(
                "INSERT INTO rating_judgements VALUES (?,?,?,?,?)",
                (
                    task_id,
                    rater,
                    None if choice == TIE else choice,
                    reason,
                    time.time() if created is None else created,
                ),
            )
        return JudgementStored(
            task_id=task_id,
            choice=choice,
            answers=[RevealedAnswer(id=i, mode=m, adapter=a, chosen=i == choice) for i, m, a in answers],
        )

    def judgements(
        self, *, tenant: str | None = None, since: date | None = None, by: By = "contestant"
    ) -> list[Judgement]:
        """Every judgement (of ``tenant``'s tasks, from ``since`` on) with its answers as labels."""
        where, args = where_clause([("t.tenant = ?", tenant), ("j.created >= ?", epoch(since))])
        rows = self.db.read(
            f"""SELECT j.task_id, j.rater, j.choice, a.answer_id, a.mode, a.adapter
                FROM rating_judgements j
                JOIN rating_tasks t ON t.task_id = j.task_id
                JOIN rating_answers a ON a.task_id = j.task_id
                {where}
                ORDER BY j.created, j.task_id, j.rater, a.position""",
            args,
        )
        grouped: dict[tuple[str, str], tuple[str | None, list[tuple[str, str]]]] = {}
        for task_id, rater, choice, answer_id, mode, adapter in rows:
            entry = grouped.setdefault((task_id, rater), (choice, []))
            entry[1].append((answer_id, contestant_label(mode, adapter, by)))
        result = []
        for choice, answers in grouped.values():
            winner = next((label for answer_id, label in answers if answer_id == choice), None)
            result.append(Judgement(contestants=tuple(label for _, label in answers), winner=winner))
        return result

    def summary(
        self, *, tenant: str | None = None, since: date | None = None, by: By = "contestant", bootstrap: int = 200
    ) -> RatingSummary:
        """Win rates (Bradley-Terry, bootstrap intervals) of the judged tasks."""
        table = win_rates(self.judgements(tenant=tenant, since=since, by=by), bootstrap=bootstrap)
        where, args = where_clause([("tenant = ?", tenant)])
        tasks = self.db.read(f"SELECT COUNT(*) FROM rating_tasks {where}", args)[0][0]
        return RatingSummary(**table.model_dump(), by=by, tasks=tasks)
