"""``ragtune train``: prepare data, train, evaluate (loss + style, base vs adapter), write the card.

Nothing in ``RAGTUNE_HOME/adapters/`` changes until a run has finished: the adapter is written to a
hidden staging folder and moved into place at the end. Under ``accelerate launch`` (``ragtune train
--processes N``) every process runs this function; only rank 0 measures, reports and writes (the
adapter, its card, checkpoints), and every process returns the installed card.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ragtune import models as model_store
from ragtune.errors import ConflictError
from ragtune.files import staged_dir
from ragtune.settings import Settings, TrainSettings
from training import versions
from training.adapter_folder import read_card, write_card
from training.adapters import AdapterCard, validate_name
from training.chat_tokens import encode_example
from training.evaluation import eval_loss, generate_replies
from training.hardware import HardwarePlan, choose_hardware, probe_capabilities
from training.modeling import (
    TrainingError,
    load_tokenizer,
    load_trainable_model,
    trainable_parameters,
)
from training.prep import PreparedData, prepare
from training.style import StyleGuide, style_breakdown
from training.trainer import (
    ProgressFn,
    StepHook,
    last_checkpoint,
    quiet_libraries,
    run_config_sha256,
    train_model,
)

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
    device: str | None = None
    """auto | cpu | cuda (default: settings ``train.device``)."""
    precision: str | None = None
    """auto | fp32 | bf16 | fp16 (default: settings ``train.precision``)."""
    new_version: bool = False
    """When the adapter exists, train the next version beside it (``NAME/vN/``, see
    ``training.versions``) instead of refusing; ``ragtune train`` sets it. ``overwrite`` wins."""


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process under ``accelerate launch`` / torchrun; (0, 1) alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def sharded_launch() -> bool:
    """True under an accelerate config that shards the model (FSDP or DeepSpeed ZeRO)."""
    return any(
        os.environ.get(flag, "").lower() in ("1", "true")
        for flag in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")
    )


def _base_sha256(base_dir: Path) -> str:
    manifest = model_store.read_manifest(base_dir)
    return manifest.sha256 if manifest else str(base_dir)


def _style(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], guide: StyleGuide | None, hp: TrainSettings
) -> tuple[list[str], dict[str, float | None] | None]:
    if guide is None or not prompts:
        return [], None
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens=hp.style_max_new_tokens)
    return replies, style_breakdown(replies, guide)


class CheckedRequest(BaseModel):
    """A request whose name, settings, device, base model and data have been checked."""

    model_config = {"arbitrary_types_allowed": True}
    name: str
    target: Path
    """Where the trained adapter goes: the adapter folder, or its ``vN/`` sub-folder for a new version."""
    version: str
    parent: str | None
    """The promoted version when this one was started (None for a new adapter)."""
    run_dir: Path
    hp: TrainSettings
    plan: HardwarePlan
    guide: StyleGuide | None
    base_dir: Path
    tokenizer: Any
    prepared: PreparedData


def check_request(request: TrainRequest, settings: Settings, status: StatusFn | None = None) -> CheckedRequest:
    """Everything about ``request`` that can fail before training, checked (and the data prepared).

    ``ragtune train --processes N`` runs this before it launches the processes, so bad input is one
    clear error from one process. Raises as ``train_adapter`` does.
    """
    say = status or (lambda _message: None)
    name = validate_name(request.name)
    adapter_dir = target = settings.adapters_dir / name
    run_dir = settings.runs_dir / name
    can_resume = request.resume and last_checkpoint(run_dir) is not None
    version, parent = "v1", None
    existing = versions.read_versions(adapter_dir) if adapter_dir.exists() else versions.VersionsFile()
    if existing.versions and request.new_version and not request.overwrite:
        version, parent = versions.next_version(adapter_dir), existing.promoted
        target = adapter_dir / version
    elif target.exists() and not (request.overwrite or can_resume):
        raise ConflictError(
            f"adapter '{name}' already exists in {settings.adapters_dir}; pass --overwrite to replace it"
        )
    if request.resume and not can_resume:
        say(f"no checkpoint of '{name}' to resume; starting from the beginning")
    overrides = {**request.overrides, "method": request.method or settings.train.method}
    if request.device:
        overrides["device"] = request.device
    if request.precision:
        overrides["precision"] = request.precision
    hp = TrainSettings.model_validate({**settings.train.model_dump(), **overrides})
    if request.epochs is not None and request.max_steps is not None:
        raise TrainingError("give --epochs or --max-steps, not both")
    plan: HardwarePlan = choose_hardware(probe_capabilities(), hp.device, hp.precision, hp.method)
    guide = StyleGuide.from_file(request.style_guide) if request.style_guide else None
    base_dir = model_store.resolve(settings.models.generator, settings.models_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    say(f"preparing {request.data}")
    tokenizer = load_tokenizer(base_dir)
    prepared: PreparedData = prepare(
        request.data,
        eval_fraction=hp.eval_fraction,
        seed=hp.seed,
        near_duplicate_threshold=hp.near_duplicate_threshold,
        phone_region=hp.pii_phone_region,
        pii_allow=_allowed_terms(guide),
        pii=settings.pii,
        tokenizer=tokenizer,
        tokenizer_name=settings.models.generator,
        max_seq_len=hp.max_seq_len,
    )
    return CheckedRequest(
        name=name,
        target=target,
        version=version,
        parent=parent,
        run_dir=run_dir,
        hp=hp,
        plan=plan,
        guide=guide,
        base_dir=base_dir,
        tokenizer=tokenizer,
        prepared=prepared,
    )


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
    quiet_libraries()
    rank, world = process_rank()
    lead = rank == 0
    say = (status or (lambda _message: None)) if lead else (lambda _message: None)
    progress = progress if lead else None
    checked = check_request(request, settings, say)
    target, run_dir, hp, plan = checked.target, checked.run_dir, checked.hp, checked.plan
    guide, base_dir, tokenizer, prepared = checked.guide, checked.base_dir, checked.tokenizer, checked.prepared
    train_examples, eval_examples = prepared.split("train"), prepared.split("eval")
    train_encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in train_examples]
    eval_encoded = [encode_example(e, tokenizer, hp.max_seq_len) for e in eval_examples]
    style_prompts = [[m.model_dump() for m in e.prompt_messages()] for e in eval_examples[: hp.style_prompts]]

    where = f"{plan.device_name or plan.device}, {plan.precision}" + (f", {world} processes" if world > 1 else "")
    say(f"loading {settings.models.generator} for {hp.method} ({where})")
    model = load_trainable_model(base_dir, hp.method, hp, plan)
    trainable, total_params = trainable_parameters(model)
    pad_id = tokenizer.pad_token_id
    sharded = sharded_launch()

    loss_before: float | None = None
    base_replies: list[str] = []
    style_before = None
    if lead and not sharded:
        say("measuring the base model (eval loss, style)")
        if plan.device == "cuda" and hp.method != "qlora":  # a 4-bit model is loaded on its GPU
            model.to(_device_of_rank(rank))
        loss_before = eval_loss(model, eval_encoded, pad_id)
        base_replies, style_before = _style(model, tokenizer, style_prompts, guide, hp)

    config_sha = run_config_sha256(hp, hp.method, prepared.report.data_sha256, _base_sha256(base_dir))
    learning_rate = hp.full_learning_rate if hp.method == "full" else hp.learning_rate
    say(f"training {trainable:,} of {total_params:,} parameters on {len(train_encoded)} examples")
    outcome, trainer = train_model(
        model,
        train_encoded,
        eval_encoded,
        hp=hp,
        plan=plan,
        learning_rate=learning_rate,
        pad_id=pad_id,
        run_dir=run_dir,
        config_sha256=config_sha,
        epochs=request.epochs,
        max_steps=request.max_steps or (None if request.epochs else hp.max_steps),
        resume=request.resume,
        progress=progress,
        on_step=on_step,
    )
    if sharded:  # gathering the full weights is a collective: every process takes part
        trainer.save_model(str(run_dir / "final"))
    if lead:
        _finish(
            request,
            checked,
            settings,
            hp,
            plan,
            trainer.model,
            tokenizer,
            prepared,
            outcome,
            guide,
            style_prompts,
            base_replies,
            style_before,
            loss_before,
            eval_encoded,
            base_dir,
            learning_rate,
            trainable,
            total_params,
            sharded,
            say,
        )
        # the memorization audit (training/audit.py) when the data has canaries or its raw data holds PII
        from training.audit import audit_after_training

        audit_after_training(target, settings, request.data, status=say)
    trainer.accelerator.wait_for_everyone()
    return read_card(target)


def _device_of_rank(rank: int) -> str:
    return f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"


def _finish(
    request: TrainRequest,
    checked: CheckedRequest,
    settings: Settings,
    hp: TrainSettings,
    plan: HardwarePlan,
    model: Any,
    tokenizer: Any,
    prepared: PreparedData,
    outcome: Any,
    guide: StyleGuide | None,
    style_prompts: list[list[dict[str, str]]],
    base_replies: list[str],
    style_before: Any,
    loss_before: float | None,
    eval_encoded: list[Any],
    base_dir: Path,
    learning_rate: float,
    trainable: int,
    total_params: int,
    sharded: bool,
    say: StatusFn,
) -> None:
    """Rank 0: measure the trained model, write the card and install the adapter (staging → target)."""
    name = checked.name
    target = checked.target
    run_dir = settings.runs_dir / name
    train_examples, eval_examples = prepared.split("train"), prepared.split("eval")
    adapter_replies: list[str] = []
    style_after = None
    # the model now holds the best weights, whose eval loss the Trainer has just measured
    loss_after = outcome.best_eval_loss
    if not sharded:
        say("measuring the adapter (eval loss, style)")
        if loss_after is None:
            loss_after = eval_loss(model, eval_encoded, tokenizer.pad_token_id)
        adapter_replies, style_after = _style(model, tokenizer, style_prompts, guide, hp)
    else:
        say("sharded run: style scoring skipped (the full model is never gathered on one device)")

    hyperparameters = {
        **hp.model_dump(mode="json", exclude={"sample_epochs", "checkpoint_every"}),
        "learning_rate": learning_rate,
        "epochs": request.epochs if request.epochs is not None else (None if request.max_steps else hp.epochs),
        "max_steps": outcome.total_steps,
        "steps_done": outcome.steps_done,
        "steps_per_epoch": outcome.steps_per_epoch,
        "best_step": outcome.best_step,
        "stopped_early": outcome.stopped_early,
        "trained_tokens": outcome.trained_tokens,
        "trainable_parameters": trainable,
        "total_parameters": total_params,
        "base_model_path": str(base_dir),
        "base_model_sha256": _base_sha256(base_dir),
        "style_guide": guide.name if guide else None,
        "resumed_from_step": outcome.resumed_from_step,
        "global_batch_size": hp.batch_size * hp.grad_accum * outcome.processes,
        **request.extra_hyperparameters,
    }
    seconds = outcome.elapsed_seconds
    card = AdapterCard(
        name=name,
        path=str(target),
        base_model=settings.models.generator,
        method=hp.method,
        data_sha256=prepared.report.data_sha256,
        train_examples=len(train_examples),
        eval_examples=len(eval_examples),
        hyperparameters=hyperparameters,
        eval_loss_before=_round(loss_before),
        eval_loss_after=_round(loss_after),
        style_score_before=style_before["score"] if style_before else None,
        style_score_after=style_after["score"] if style_after else None,
        train_seconds=round(seconds, 2),
        # the price is per machine-hour; several GPUs of one machine train in the same hours
        train_cost_usd=round(seconds / 3600 * settings.prices.train_usd_per_hour, 6),
        created=datetime.now(UTC),
        device=plan.device_name if plan.device == "cuda" and plan.device_name else plan.device,
        precision=plan.precision,
        processes=outcome.processes,
        peak_memory_mb=outcome.peak_memory_mb,
        version=checked.version,
        parent=checked.parent,
    )
    metrics = {
        "train_losses": [p.model_dump() for p in outcome.train_losses],
        "eval_losses": [p.model_dump() for p in outcome.eval_losses],
        "eval_loss_before": loss_before,
        "eval_loss_after": loss_after,
        "style_before": style_before,
        "style_after": style_after,
        "samples": [
            {"prompt": p[-1]["content"], "base": b, "adapter": a}
            for p, b, a in zip(style_prompts, base_replies, adapter_replies, strict=False)
        ],
        "prep_report": prepared.report.model_dump(mode="json"),
    }
    say(f"saving {target}")
    with staged_dir(target) as staging:  # nothing in adapters/ changes until the folder is complete
        if sharded:
            shutil.copytree(run_dir / "final", staging, dirs_exist_ok=True)
            (staging / "training_args.bin").unlink(missing_ok=True)
        else:
            model.save_pretrained(staging, safe_serialization=True)
        if hp.method == "full":
            tokenizer.save_pretrained(staging)
        write_card(staging, card, metrics)
    if target != settings.adapters_dir / name:  # a new version beside the old ones (not promoted yet)
        entry = versions.VersionEntry(
            version=checked.version,
            folder=checked.version,
            parent=checked.parent,
            data_sha256=prepared.report.data_sha256,
        )
        versions.add_version(settings.adapters_dir / name, entry, promote=False)
    # checkpoints are only needed to resume an unfinished run
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
