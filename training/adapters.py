"""Trained adapters on disk: the adapter card, listing, reading and merging into a full model.

Layout of ``RAGTUNE_HOME/adapters/NAME/``: the peft adapter (``adapter_config.json`` +
``adapter_model.safetensors``; for ``--method full`` a complete model folder instead),
``adapter_card.json`` (an ``AdapterCard``), ``README.md`` (the human-readable card) and
``metrics.json`` (loss curves, style breakdowns and sample replies).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ragtune.errors import NotFoundError, RagtuneError

CARD_FILE = "adapter_card.json"
METRICS_FILE = "metrics.json"
README_FILE = "README.md"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    serving: dict[str, Any] = Field(default_factory=dict)
    """Free for the serving layer (strategy, measured speed…)."""
    audit: dict[str, Any] | None = None
    """The memorization audit (``training.audit.AuditReport``); None when none ran."""

    @property
    def audit_failed(self) -> bool:
        """True when a memorization audit ran and failed (the gateway refuses such adapters)."""
        return bool(self.audit) and not self.audit.get("passed", True)

    @property
    def is_full_model(self) -> bool:
        """True for ``--method full``: the folder is a complete model, not a peft adapter."""
        return self.method == "full"


def validate_name(name: str) -> str:
    """``name`` if it is a usable adapter name (letters, digits, ``.``, ``_``, ``-``; ≤ 64)."""
    if not NAME_PATTERN.match(name or ""):
        raise RagtuneError(
            f"invalid adapter name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    return name


def read_card(adapter_dir: Path) -> AdapterCard:
    """The card of the adapter in ``adapter_dir``; NotFoundError if the folder holds no adapter."""
    adapter_dir = Path(adapter_dir)
    card_path = adapter_dir / CARD_FILE
    if not card_path.is_file():
        raise NotFoundError(f"{adapter_dir} is not a ragtune adapter (no {CARD_FILE})")
    has_weights = (adapter_dir / "adapter_config.json").is_file() or (adapter_dir / "config.json").is_file()
    if not has_weights:
        raise NotFoundError(f"{adapter_dir} has a card but no adapter weights (adapter_config.json)")
    try:
        card = AdapterCard.model_validate_json(card_path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as err:
        raise RagtuneError(f"{card_path} is damaged: {str(err).splitlines()[0]}") from None
    return card.model_copy(update={"path": str(adapter_dir.resolve())})


def list_adapters(adapters_dir: Path) -> list[AdapterCard]:
    """The cards of every valid adapter folder under ``adapters_dir``, by name; broken ones are skipped."""
    adapters_dir = Path(adapters_dir)
    if not adapters_dir.is_dir():
        return []
    cards = []
    for folder in sorted(adapters_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            cards.append(read_card(folder))
        except RagtuneError:
            continue
    return cards


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_readme(card: AdapterCard, metrics: dict[str, Any] | None = None) -> str:
    """The human-readable adapter card (Markdown)."""
    hp = card.hyperparameters
    lines = [
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
            lines += ["", "## Style score by criterion (held-out prompts)", "",
                      "| criterion | base | adapter |", "|---|---|---|"]
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
                lines += [f"**Prompt:** {sample['prompt']}", "", f"- base: {sample['base']!r}",
                          f"- adapter: {sample['adapter']!r}", ""]
    lines += _audit_lines(card.audit)
    lines += ["", "Usage: `ragtune ask QUESTION --mode ft --adapter " + card.name + "`", ""]
    return "\n".join(lines)


def _audit_lines(audit: dict[str, Any] | None) -> list[str]:
    """The README section of a memorization audit (``training.audit``)."""
    if not audit:
        return []
    lines = ["", "## Memorization audit", "",
             f"**{'passed' if audit.get('passed') else 'FAILED'}** (exposure threshold "
             f"{audit.get('threshold_bits')} bits; {audit.get('seconds', 0):.0f} s)", ""]
    lines += [f"- {reason}" for reason in audit.get("reasons", [])]
    canaries = audit.get("canaries") or []
    if canaries:
        lines += ["", "| canary | inserted | rank | exposure (bits) | extrapolated (bits) | completion |",
                  "|---|---|---|---|---|---|"]
        for c in canaries:
            done = "exact" if c["exact"] else ("near-exact" if c["near_exact"] else f"similarity {c['similarity']}")
            lines.append(f"| {c['id']} | {str(c['repeats']) + '×' if c['inserted'] else 'control'} | "
                         f"{c['rank']}/{c['candidates'] + 1} | {c['exposure_bits']} | "
                         f"{c['extrapolated_exposure_bits']} | {done} |")
    pii = audit.get("pii") or {}
    if pii.get("probes"):
        lines += ["", f"PII / secret strings of the raw data prompted: {pii['probes']}; completed exactly "
                      f"{pii['exact']} (by the base model too: {pii['exact_base']}), near-exactly {pii['near_exact']}."]
    return lines


def write_card(adapter_dir: Path, card: AdapterCard, metrics: dict[str, Any]) -> None:
    """Write ``adapter_card.json``, ``metrics.json`` and ``README.md`` into ``adapter_dir``."""
    (adapter_dir / CARD_FILE).write_text(card.model_dump_json(indent=2), encoding="utf-8")
    (adapter_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    (adapter_dir / README_FILE).write_text(render_readme(card, metrics), encoding="utf-8")


def install_folder(staging: Path, target: Path) -> None:
    """Move a finished ``staging`` folder to ``target``, replacing an old one only once the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def merge_adapter(base_model_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Merge a LoRA adapter into its base (peft ``merge_and_unload``) and save a full model folder
    (weights, config, tokenizer, chat template) to ``out_dir``, which vLLM serves as a plain model.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    card = read_card(adapter_dir)
    if card.is_full_model:
        raise RagtuneError(f"adapter '{card.name}' is already a full model ({adapter_dir}); serve it directly")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise RagtuneError(f"{out_dir} exists and is not empty; choose another --out or remove it")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_model_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        merged.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        merged_card = card.model_copy(update={"serving": {**card.serving, "merged_into": str(out_dir)}})
        (staging / "ragtune_merge.json").write_text(json.dumps(
            {"adapter": card.name, "base_model": card.base_model, "base_model_dir": str(base_model_dir),
             "adapter_card": json.loads(merged_card.model_dump_json())}, indent=2))
        staging.chmod(0o755)
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir
