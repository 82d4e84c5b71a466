"""``ragtune train``: prepare data, train, evaluate (loss + style, base vs adapter), write the card.

Nothing in ``RAGTUNE_HOME/adapters/`` changes until a run has finished: the adapter is written to a
hidden staging folder and moved into place at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ragtune import models as model_store
from ragtune.errors import ConflictError
from ragtune.settings import Settings, TrainSettings
from training.adapters import AdapterCard, install_folder, read_card, validate_name, write_card
from training.chat_tokens import encode_example
from training.evaluation import eval_loss, generate_replies
from training.modeling import TrainingError, load_tokenizer, load_trainable_model, trainable_parameters
from training.prep import PreparedData, prepare
from training.style import StyleGuide, style_breakdown
from training.trainer import Checkpointer, ProgressFn, StepHook, run_config_sha256, train_loop

StatusFn = Callable[[str], None]


class TrainRequest(BaseModel):
    """One training run as the CLI (or ``ensure_sample_adapter``) asks for it."""

    data: Path
    name: str
    method: str | None = None
    epochs: float | None = None
    max_steps: int | None = None
    style_guide: Path | None = None
    resume: bool = False
    overwrite: bool = False
    overrides: dict[str, Any] = {}
    """TrainSettings fields to change for this run only (e.g. the sample's learning rate)."""
    extra_hyperparameters: dict[str, Any] = {}
    """Recorded in the card as they are (e.g. the sample's config hash)."""


def _base_sha256(base_dir: Path) -> str:
    manifest = model_store.read_manifest(base_dir)
    return manifest.sha256 if manifest else str(base_dir)


def _style(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], guide: StyleGuide | None,
           hp: TrainSettings) -> tuple[list[str], dict[str, float | None] | None]:
    if guide is None or not prompts:
        return [], None
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens=hp.style_max_new_tokens)
    return replies, style_breakdown(replies, guide)


def train_adapter(
    request: TrainRequest,
    settings: Settings,
    *,
    progress: ProgressFn | None = None,
    status: StatusFn | None = None,
    on_step: StepHook | None = None,
) -> AdapterCard:
    """Run one training request and install the result as ``settings.adapters_dir / request.name``.

    Raises ConflictError when the adapter exists (unless ``overwrite`` or ``resume``), DataError for
    unusable data, TrainingError for impossible settings, ModelNotFoundError for a missing base model.
    """
    say = status or (lambda _message: None)
    name = validate_name(request.name)
    target = settings.adapters_dir / name
    can_resume = request.resume and Checkpointer(settings.runs_dir / name).exists()
    if target.exists() and not (request.overwrite or can_resume):
        raise ConflictError(f"adapter '{name}' already exists in {settings.adapters_dir}; "
                            "pass --overwrite to replace it")
    if request.resume and not can_resume:
        say(f"no checkpoint of '{name}' to resume; starting from the beginning")
    hp = TrainSettings.model_validate({**settings.train.model_dump(), **request.overrides,
                                       "method": request.method or settings.train.method})
    if request.epochs is not None and request.max_steps is not None:
        raise TrainingError("give --epochs or --max-steps, not both")
    guide = StyleGuide.from_file(request.style_guide) if request.style_guide else None
    base_dir = model_store.resolve(settings.models.generator, settings.models_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    say(f"preparing {request.data}")
    tokenizer = load_tokenizer(base_dir)
    prepared: PreparedData = prepare(
        request.data, eval_fraction=hp.eval_fraction, seed=hp.seed,
        near_duplicate_threshold=hp.near_duplicate_threshold, phone_region=hp.pii_phone_region,
        pii_allow=_allowed_terms(guide), pii=settings.pii, tokenizer=tokenizer, tokenizer_name=settings.models.generator,
        max_seq_len=hp.max_seq_len,
    )
    train_examples, eval_examples = prepared.split("train"), prepared.split("eval")
    train_encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in train_examples]
    eval_encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in eval_examples]
    style_prompts = [[m.model_dump() for m in e.prompt_messages()] for e in eval_examples[:hp.style_prompts]]

    say(f"loading {settings.models.generator} for {hp.method}")
    model = load_trainable_model(base_dir, hp.method, hp)
    trainable, total_params = trainable_parameters(model)
    pad_id = tokenizer.pad_token_id

    say("measuring the base model (eval loss, style)")
    loss_before = eval_loss(model, eval_encoded, pad_id)
    base_replies, style_before = _style(model, tokenizer, style_prompts, guide, hp)

    config_sha = run_config_sha256(hp, hp.method, prepared.report.data_sha256, _base_sha256(base_dir))
    learning_rate = hp.full_learning_rate if hp.method == "full" else hp.learning_rate
    run_dir = settings.runs_dir / name
    say(f"training {trainable:,} of {total_params:,} parameters on {len(train_encoded)} examples")
    outcome = train_loop(model, train_encoded, eval_encoded, hp=hp, learning_rate=learning_rate, pad_id=pad_id,
                         run_dir=run_dir, config_sha256=config_sha, epochs=request.epochs,
                         max_steps=request.max_steps or (None if request.epochs else hp.max_steps),
                         resume=request.resume, progress=progress, on_step=on_step)

    say("measuring the adapter (eval loss, style)")
    state = outcome.state
    # the model now holds the best weights, whose eval loss the loop has just measured
    loss_after = state.best_eval_loss if state.best_eval_loss is not None else eval_loss(model, eval_encoded, pad_id)
    adapter_replies, style_after = _style(model, tokenizer, style_prompts, guide, hp)

    hyperparameters = {
        **hp.model_dump(mode="json", exclude={"sample_epochs", "checkpoint_every"}),
        "learning_rate": learning_rate,
        "epochs": request.epochs if request.epochs is not None else (None if request.max_steps else hp.epochs),
        "max_steps": outcome.total_steps,
        "steps_done": state.step,
        "steps_per_epoch": outcome.steps_per_epoch,
        "best_step": state.best_step,
        "stopped_early": state.stopped_early,
        "trained_tokens": state.trained_tokens,
        "trainable_parameters": trainable,
        "total_parameters": total_params,
        "base_model_path": str(base_dir),
        "base_model_sha256": _base_sha256(base_dir),
        "style_guide": guide.name if guide else None,
        "resumed_from_step": outcome.resumed_from_step,
        **request.extra_hyperparameters,
    }
    card = AdapterCard(
        name=name, path=str(target), base_model=settings.models.generator, method=hp.method,
        data_sha256=prepared.report.data_sha256, train_examples=len(train_examples),
        eval_examples=len(eval_examples), hyperparameters=hyperparameters,
        eval_loss_before=_round(loss_before), eval_loss_after=_round(loss_after),
        style_score_before=style_before["score"] if style_before else None,
        style_score_after=style_after["score"] if style_after else None,
        train_seconds=round(state.elapsed_seconds, 2),
        train_cost_usd=round(state.elapsed_seconds / 3600 * settings.prices.train_usd_per_hour, 6),
        created=datetime.now(timezone.utc),
    )
    metrics = {
        "train_losses": [p.model_dump() for p in state.train_losses],
        "eval_losses": [p.model_dump() for p in state.eval_losses],
        "eval_loss_before": loss_before,
        "eval_loss_after": loss_after,
        "style_before": style_before,
        "style_after": style_after,
        "samples": [{"prompt": p[-1]["content"], "base": b, "adapter": a}
                    for p, b, a in zip(style_prompts, base_replies, adapter_replies)],
        "prep_report": prepared.report.model_dump(mode="json"),
    }
    say(f"saving {target}")
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=settings.adapters_dir))
    staging.chmod(0o755)
    try:
        model.save_pretrained(staging, safe_serialization=True)
        if hp.method == "full":
            tokenizer.save_pretrained(staging)
        write_card(staging, card, metrics)
        install_folder(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    run_dir_cleanup(run_dir)
    # privacy (issue 17): the memorization audit, when the data has canaries or its raw data holds PII
    from training.audit import audit_after_training

    audit_after_training(target, settings, request.data, status=say)
    return read_card(target)


def run_dir_cleanup(run_dir: Path) -> None:
    """Remove a finished run's checkpoints (they are only needed to resume an unfinished run)."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _allowed_terms(guide: StyleGuide | None) -> list[str]:
    """Words of the brand's own sign-offs and greetings, never masked as person names."""
    if guide is None:
        return []
    words = []
    for phrase in guide.sign_offs + guide.greetings:
        words.append(phrase)
        words.extend(phrase.replace(",", " ").split())
    return words


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
