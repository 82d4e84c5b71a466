"""The adapter card: what an adapter is and how well it does, and its Markdown rendering.

The folder it lives in (file names, reading and writing the card, merging) is
``training.adapter_folder``'s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from ragtune.models import BUILTIN_MODELS
from ragtune.names import check_name


class AdapterCard(BaseModel):
    """What an adapter is and how well it does (stored as ``adapter_card.json``)."""

    name: str
    path: str
    base_model: str
    method: str
    data_sha256: str
    train_examples: int
    eval_examples: int
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    eval_loss_before: float | None = None
    eval_loss_after: float | None = None
    style_score_before: float | None = None
    style_score_after: float | None = None
    train_seconds: float = 0.0
    train_cost_usd: float = 0.0
    device: str | None = None
    """Where it was trained: ``cpu`` or ``cuda`` (with the GPU's name when known)."""
    precision: str | None = None
    """Compute precision of the run: fp32, bf16 or fp16."""
    processes: int | None = None
    """Data-parallel processes (one per GPU, or CPU processes with gloo)."""
    peak_memory_mb: float | None = None
    """Peak GPU memory allocated on rank 0 (CUDA) or peak resident memory of rank 0 (CPU), MiB."""
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    serving: dict[str, Any] = Field(default_factory=dict)
    """Free for the serving layer (strategy, measured speed…)."""
    audit: dict[str, Any] | None = None
    """The memorization audit (``training.audit.AuditReport``); None when none ran."""
    version: str | None = None
    """``v1``, ``v2`` … (``training.versions``); None on cards from before versions (= v1)."""
    parent: str | None = None
    """The version that was promoted when this one was trained (what it must beat to be promoted)."""
    evaluation: dict[str, Any] | None = None
    """Its figures on the configured QA set against its parent, from the last promotion check."""

    @property
    def audit_failed(self) -> bool:
        """True when a memorization audit ran and failed (the gateway refuses such adapters)."""
        return bool(self.audit) and not self.audit.get("passed", True)

    @property
    def is_full_model(self) -> bool:
        """True for ``--method full``: the folder is a complete model, not a peft adapter."""
        return self.method == "full"


def validate_name(name: str) -> str:
    """``name`` if it is a usable adapter name (``ragtune.names``), else a RagtuneError."""
    return check_name(name, "adapter name")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def hub_id(base_model: str) -> str | None:
    """The Hugging Face Hub id of a base model: a built-in's source repository, or the name itself
    when it has the hub's ``owner/name`` form and is no local path; None when unknown."""
    builtin = BUILTIN_MODELS.get(base_model)
    if builtin is not None:
        return builtin.hub_id
    if base_model.count("/") == 1 and not base_model.startswith((".", "/", "~")) and "\\" not in base_model:
        return base_model
    return None


def front_matter(card: AdapterCard, existing: str | None = None) -> dict[str, Any]:
    """The model card's YAML metadata: PEFT's (``library_name``, ``base_model``, ``tags``…) kept from
    ``existing`` (the README that ``save_pretrained`` wrote), ``base_model`` set to the hub id when
    known (a local path means nothing on the hub, so it is dropped), and ragtune's tags added."""
    import yaml

    meta: dict[str, Any] = {}
    if existing and existing.startswith("---"):
        head = existing.split("---", 2)
        if len(head) == 3:
            loaded = yaml.safe_load(head[1])
            meta = loaded if isinstance(loaded, dict) else {}
    old_base = meta.pop("base_model", None)
    base = hub_id(card.base_model)
    meta.setdefault("library_name", "transformers" if card.is_full_model else "peft")
    if base:
        meta["base_model"] = base
    stale = f":{old_base}" if old_base and old_base != base else None
    tags = [t for t in meta.get("tags") or [] if not (stale and str(t).endswith(stale))]
    wanted = [f"base_model:{'finetune' if card.is_full_model else 'adapter'}:{base}"] if base else []
    wanted += ["ragtune", card.method]
    meta["tags"] = list(dict.fromkeys([*tags, *wanted]))
    meta.setdefault("pipeline_tag", "text-generation")
    return meta


def render_readme(card: AdapterCard, metrics: dict[str, Any] | None = None, existing: str | None = None) -> str:
    """The adapter card (Markdown) under the model card's front matter (``front_matter``)."""
    import yaml

    hp = card.hyperparameters
    meta = yaml.safe_dump(front_matter(card, existing), sort_keys=False, allow_unicode=True)
    lines = [
        "---",
        meta.rstrip(),
        "---",
        "",
        f"# Adapter `{card.name}`",
        "",
        f"Brand-voice {card.method.upper()} adapter trained by ragtune on `{card.base_model}`.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{card.base_model}` |",
        f"| method | {card.method} |",
        f"| data sha256 | `{card.data_sha256}` |",
        f"| examples | {card.train_examples} train / {card.eval_examples} eval (held out) |",
        f"| eval loss before → after | {_fmt(card.eval_loss_before)} → {_fmt(card.eval_loss_after)} |",
        f"| style score before → after | {_fmt(card.style_score_before)} → {_fmt(card.style_score_after)} |",
        f"| training time | {card.train_seconds:.1f} s |",
        f"| estimated cost | ${card.train_cost_usd:.5f} |",
        f"| created | {card.created.isoformat(timespec='seconds')} |",
        "",
        "## Hyper-parameters",
        "",
        "| name | value |",
        "|---|---|",
        *[f"| {key} | `{json.dumps(value)}` |" for key, value in sorted(hp.items())],
    ]
    if metrics:
        before, after = metrics.get("style_before") or {}, metrics.get("style_after") or {}
        if before or after:
            lines += [
                "",
                "## Style score by criterion (held-out prompts)",
                "",
                "| criterion | base | adapter |",
                "|---|---|---|",
            ]
            for key in sorted(set(before) | set(after)):
                lines.append(f"| {key} | {_fmt(before.get(key))} | {_fmt(after.get(key))} |")
        evals = metrics.get("eval_losses") or []
        if evals:
            lines += ["", "## Eval loss", "", "| step | epoch | eval loss |", "|---|---|---|"]
            lines += [f"| {p['step']} | {p['epoch']} | {p['loss']:.4f} |" for p in evals]
        samples = metrics.get("samples") or []
        if samples:
            lines += ["", "## Sample replies (held-out prompts, greedy)", ""]
            for sample in samples[:3]:
                lines += [
                    f"**Prompt:** {sample['prompt']}",
                    "",
                    f"- base: {sample['base']!r}",
                    f"- adapter: {sample['adapter']!r}",
                    "",
                ]
    lines += _audit_lines(card.audit)
    lines += ["", "Usage: `ragtune ask QUESTION --mode ft --adapter " + card.name + "`", ""]
    return "\n".join(lines)


def _audit_lines(audit: dict[str, Any] | None) -> list[str]:
    """The README section of a memorization audit (``training.audit``)."""
    if not audit:
        return []
    lines = [
        "",
        "## Memorization audit",
        "",
        f"**{'passed' if audit.get('passed') else 'FAILED'}** (exposure threshold "
        f"{audit.get('threshold_bits')} bits; {audit.get('seconds', 0):.0f} s)",
        "",
    ]
    lines += [f"- {reason}" for reason in audit.get("reasons", [])]
    canaries = audit.get("canaries") or []
    if canaries:
        lines += [
            "",
            "| canary | inserted | rank | exposure (bits) | extrapolated (bits) | completion |",
            "|---|---|---|---|---|---|",
        ]
        for c in canaries:
            done = "exact" if c["exact"] else ("near-exact" if c["near_exact"] else f"similarity {c['similarity']}")
            lines.append(
                f"| {c['id']} | {str(c['repeats']) + '×' if c['inserted'] else 'control'} | "
                f"{c['rank']}/{c['candidates'] + 1} | {c['exposure_bits']} | "
                f"{c['extrapolated_exposure_bits']} | {done} |"
            )
    pii = audit.get("pii") or {}
    if pii.get("probes"):
        lines += [
            "",
            f"PII / secret strings of the raw data prompted: {pii['probes']}; completed exactly "
            f"{pii['exact']} (by the base model too: {pii['exact_base']}), near-exactly {pii['near_exact']}.",
        ]
    return lines
