"""``ragtune data prep``: read → validate → clean → de-duplicate → mask PII → split → report."""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune import crypto
from ragtune.crypto import DataKey
from ragtune.neardup import find_duplicates
from ragtune.pii import PiiEngine, PiiMasker
from ragtune.settings import PiiSettings
from training.cleaning import clean_text, was_changed_by_encoding_fix
from training.readers import read_examples, validate_messages
from training.records import ChatExample, DataError, LineIssue, Message
from training.split import assign_splits

MAX_LISTED_ISSUES = 50


class TokenStats(BaseModel):
    tokenizer: str
    count: int
    min: int
    p50: int
    p90: int
    p95: int
    max: int
    mean: float
    over_max_seq_len: int
    max_seq_len: int


class PrepReport(BaseModel):
    """What ``prepare`` did; printed by the CLI and written beside the output."""

    source: str
    input_records: int
    kept: int
    train: int
    eval: int
    dropped: dict[str, int] = Field(default_factory=dict)
    """Reason → count (invalid, exact_duplicate, near_duplicate, empty_after_cleaning)."""
    issues: list[LineIssue] = Field(default_factory=list)
    """Line-numbered reasons (the first 50)."""
    pii_found: dict[str, int] = Field(default_factory=dict)
    encoding_fixed: int = 0
    data_sha256: str = ""
    """Hash of the prepared output (what the adapter card records)."""
    tokens: TokenStats | None = None
    canaries: int = 0
    """Canaries inserted (``--canaries``; recorded in ``<stem>.canaries.json``, see training/audit.py)."""


class PreparedData(BaseModel):
    examples: list[ChatExample]
    report: PrepReport

    def split(self, name: str) -> list[ChatExample]:
        return [e for e in self.examples if e.split == name]


def dataset_sha256(examples: list[ChatExample]) -> str:
    """Content hash of prepared examples (order-sensitive, as the file is)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.model_dump_json().encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _clean(example: ChatExample) -> tuple[ChatExample, bool]:
    fixed = any(was_changed_by_encoding_fix(m.content) for m in example.messages)
    messages = [Message(role=m.role, content=clean_text(m.content)) for m in example.messages]
    return example.model_copy(update={"messages": messages}), fixed


def _token_stats(examples: list[ChatExample], tokenizer: Any, name: str, max_seq_len: int) -> TokenStats | None:
    from training.chat_tokens import token_lengths

    if not examples:
        return None
    lengths = sorted(token_lengths(examples, tokenizer))
    quantiles = statistics.quantiles(lengths, n=20, method="inclusive") if len(lengths) > 1 else lengths * 19

    return TokenStats(
        tokenizer=name,
        count=len(lengths),
        min=lengths[0],
        p50=int(statistics.median(lengths)),
        p90=int(quantiles[17]),
        p95=int(quantiles[18]),
        max=lengths[-1],
        mean=round(statistics.fmean(lengths), 1),
        over_max_seq_len=sum(1 for n in lengths if n > max_seq_len),
        max_seq_len=max_seq_len,
    )


def prepare(
    source: Path,
    *,
    eval_fraction: float = 0.1,
    seed: int = 42,
    near_duplicate_threshold: float = 0.85,
    phone_region: str | None = None,
    pii_allow: list[str] | None = None,
    pii: PiiSettings | None = None,
    strict: bool = False,
    tokenizer: Any = None,
    tokenizer_name: str = "",
    max_seq_len: int = 512,
) -> PreparedData:
    """Prepare the examples of ``source`` for training (see the module docstring for the steps).

    PII is masked with ``ragtune.pii`` configured by ``pii`` (default: all languages and regions);
    ``phone_region`` is read first for numbers without a country code, ``pii_allow`` is never masked.
    Bad records are dropped and listed by line number; with ``strict`` any bad record raises a
    DataError naming the lines. Raises DataError too when nothing usable is left.
    """
    read, issues = read_examples(source)
    total = len(read) + len(issues)
    if strict and issues:
        listed = "; ".join(f"line {i.line}: {i.reason}" for i in issues[:10])
        raise DataError(f"{source}: {len(issues)} invalid record(s): {listed}")
    dropped: Counter[str] = Counter({"invalid": len(issues)} if issues else {})

    cleaned: list[tuple[int, ChatExample]] = []
    encoding_fixed = 0
    for line, example in read:
        example, fixed = _clean(example)
        encoding_fixed += fixed
        try:
            validate_messages([m.model_dump() for m in example.messages])
        except ValueError as err:
            dropped["empty_after_cleaning"] += 1
            issues.append(LineIssue(line=line, reason=f"after cleaning: {err}"))
            continue
        cleaned.append((line, example))

    duplicates = find_duplicates([e.text() for _, e in cleaned], near_duplicate_threshold)
    dropped_positions = set()
    for dup in duplicates:
        if _is_canary(cleaned[dup.index][1]):
            continue  # repeated canaries are wanted (``ragtune data prep --canaries``)
        dropped_positions.add(dup.index)
        dropped[f"{dup.kind}_duplicate"] += 1
        issues.append(
            LineIssue(
                line=cleaned[dup.index][0],
                reason=f"{dup.kind} duplicate of line {cleaned[dup.kept][0]}"
                + (f" (similarity {dup.similarity})" if dup.kind == "near" else ""),
            )
        )
    unique = [e for position, (_, e) in enumerate(cleaned) if position not in dropped_positions]

    masker = PiiMasker(pii_engine(pii, phone_region=phone_region, allow=pii_allow))
    masked = [
        e
        if _is_canary(e)
        else e.model_copy(
            update={"messages": [Message(role=m.role, content=masker.mask(m.content)) for m in e.messages]}
        )
        for e in unique
    ]
    if not masked:
        listed = "; ".join(f"line {i.line}: {i.reason}" for i in issues[:5])
        raise DataError(f"{source}: no usable examples ({total} records; {listed})")
    examples = assign_splits(masked, eval_fraction, seed)
    report = PrepReport(
        source=str(source),
        input_records=total,
        kept=len(examples),
        train=sum(1 for e in examples if e.split == "train"),
        eval=sum(1 for e in examples if e.split == "eval"),
        dropped=dict(dropped),
        issues=sorted(issues, key=lambda i: i.line)[:MAX_LISTED_ISSUES],
        pii_found=masker.counts(),
        encoding_fixed=encoding_fixed,
        data_sha256=dataset_sha256(examples),
        tokens=_token_stats(examples, tokenizer, tokenizer_name, max_seq_len) if tokenizer else None,
    )
    return PreparedData(examples=examples, report=report)


def _is_canary(example: ChatExample) -> bool:
    """Canaries inserted by ``--canaries`` are neither de-duplicated nor masked (see training/audit.py)."""
    return example.id.startswith("canary-") and example.split == "train"


def pii_engine(
    pii: PiiSettings | None = None, *, phone_region: str | None = None, allow: list[str] | None = None
) -> PiiEngine:
    """The PII engine of ``pii`` with ``phone_region`` read first and ``allow`` never masked."""
    pii = pii or PiiSettings()
    if phone_region:
        pii = pii.model_copy(update={"regions": [phone_region, *[r for r in pii.regions if r != phone_region]]})
    return PiiEngine(pii, extra_allow=allow or [])


def write_prepared(data: PreparedData, out: Path, key: DataKey | None = None) -> Path:
    """Write the examples as JSONL to ``out`` and the report to ``<out stem>.report.json`` beside it.

    The file is written to a temporary name and renamed, so a failure never leaves half a file.
    With ``key`` the examples are encrypted (``ragtune.crypto``; the report holds counts only).
    Returns the report path.
    """
    out = Path(out)
    lines = "".join(json.dumps(example.model_dump(), ensure_ascii=False) + "\n" for example in data.examples)
    crypto.write_bytes(out, lines, key)
    report_path = out.with_name(f"{out.stem}.report.json")
    report_path.write_text(data.report.model_dump_json(indent=2))
    return report_path
