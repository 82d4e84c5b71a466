"""The supervised fine-tuning step on transformers' ``Trainer`` (driven by accelerate).

What the library does: the optimizer (AdamW) and the linear warm-up/decay schedule, gradient
accumulation and clipping, mixed precision (bf16/fp16 autocast), gradient checkpointing, the device
and the process group (DDP, or FSDP / DeepSpeed ZeRO from an ``accelerate launch`` config), seeded
and resumable data order, checkpoints (weights, optimizer, scheduler, RNG, trainer state) with
rotation, keeping and restoring the best checkpoint, and early stopping.

What ragtune adds here (``SftTrainer`` and ``RunCallback``):

* the loss: mean cross-entropy per *assistant* token over the whole optimizer step (and over all
  processes), from our own label masks, with the output head run only on those positions;
* the eval loss the same way (per token, not per batch), on every process alike so that early
  stopping decides the same everywhere;
* evaluation at the end of every epoch and at the last step (``eval_strategy="epoch"``: the
  Trainer ends an epoch also when it stops early), a checkpoint every ``train.checkpoint_every``
  steps and at every evaluation;
* a run identity (data, model, settings) checked before ``--resume`` continues a checkpoint;
* per-step figures for the card (loss, assistant tokens trained, elapsed time kept across resumes),
  ragtune's progress callback and step hook, and the library's own logging and bars kept quiet.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune.settings import TrainSettings
from training.chat_tokens import EncodedExample
from training.evaluation import collate, eval_loss, token_loss_sum
from training.hardware import HardwarePlan
from training.modeling import TrainingError

ProgressFn = Callable[[int, int, float | None], None]
"""Called after each optimizer step with (step, total steps, running train loss)."""
StepHook = Callable[[int], None]
"""Called after each optimizer step (after its checkpoint, if any) with the step number; may raise to abort."""
RUN_FILE = "run.json"


class LossPoint(BaseModel):
    step: int
    epoch: float
    loss: float


class TrainOutcome(BaseModel):
    """What a finished run reports (on every process alike)."""

    total_steps: int
    steps_per_epoch: int
    steps_done: int = 0
    best_step: int = 0
    best_eval_loss: float | None = None
    stopped_early: bool = False
    trained_tokens: int = 0
    elapsed_seconds: float = 0.0
    train_losses: list[LossPoint] = Field(default_factory=list)
    eval_losses: list[LossPoint] = Field(default_factory=list)
    resumed_from_step: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    processes: int = 1
    peak_memory_mb: float | None = None
    """Peak GPU memory allocated by torch on rank 0 (CUDA), or the peak resident memory of rank 0 (CPU)."""


def run_config_sha256(hp: TrainSettings, method: str, data_sha256: str, base_sha256: str) -> str:
    """Identity of a run: a checkpoint may only be resumed by the same data, model and settings."""
    payload = {
        "hp": hp.model_dump(mode="json", exclude={"device", "precision", "gradient_checkpointing"}),
        "method": method,
        "data": data_sha256,
        "base": base_sha256,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def plan_steps(
    n_train: int, hp: TrainSettings, epochs: float | None, max_steps: int | None, processes: int = 1
) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) for a training set of ``n_train``.

    One optimizer step takes ``batch_size × grad_accum`` examples on each of ``processes``.
    """
    micro_per_epoch = math.ceil(n_train / (hp.batch_size * processes))
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / hp.grad_accum))
    if max_steps is not None:
        return steps_per_epoch, max_steps
    return steps_per_epoch, max(1, math.ceil((epochs or hp.epochs) * steps_per_epoch))


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest resumable checkpoint of the run in ``run_dir`` (None when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not run_dir.is_dir():
        return None
    found = get_last_checkpoint(str(run_dir))
    return Path(found) if found else None


class _Examples:
    """A map-style dataset over encoded examples (what the Trainer's sampler indexes)."""

    def __init__(self, examples: list[EncodedExample]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> EncodedExample:
        return self.examples[index]


def _trainer_class() -> type:
    """``SftTrainer``: transformers' Trainer with ragtune's loss, eval loss and step figures."""
    from transformers import Trainer

    class SftTrainer(Trainer):
        """Trainer whose loss and eval loss are per assistant token (ragtune's label masks)."""

        def __init__(self, *args: Any, eval_examples: list[EncodedExample], pad_id: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.eval_examples = eval_examples
            self.pad_id = pad_id
            # the loss is normalised by the step's labelled-token count (num_items_in_batch) below,
            # so the Trainer must count it and must not divide by the accumulation steps again
            self.model_accepts_loss_kwargs = True
            self.head_only = not (self.is_fsdp_enabled or self.is_deepspeed_enabled)
            self.step_tokens = 0
            self.counted_step = -1
            self.session_started = time.perf_counter()
            self.elapsed_before: float | None = None

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            loss_sum, count = token_loss_sum(model, inputs, head_only=self.head_only)
            if num_items_in_batch is None:  # evaluation through the library's loop (not used by ragtune)
                return loss_sum / max(count, 1)
            total = int(num_items_in_batch)
            if self.counted_step != self.state.global_step:
                self.counted_step = self.state.global_step
                self.step_tokens += total
            loss = loss_sum / max(total, 1)
            if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                # the gradients are averaged over processes, while the count above is global
                loss = loss * self.accelerator.num_processes
            return loss

        def evaluate(
            self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
        ) -> dict[str, float]:
            model = self.model if self.head_only else self.model_wrapped
            loss = eval_loss(
                model,
                self.eval_examples,
                self.pad_id,
                batch_size=self.args.per_device_eval_batch_size,
                head_only=self.head_only,
            )
            metrics = {f"{metric_key_prefix}_loss": float(loss if loss is not None else math.nan)}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if self.elapsed_before is None:
                self.elapsed_before = max((e.get("elapsed_seconds", 0.0) for e in self.state.log_history), default=0.0)
            if "loss" in logs:
                logs["trained_tokens"] = self.step_tokens
                self.step_tokens = 0
            logs["elapsed_seconds"] = round(self.elapsed_before + time.perf_counter() - self.session_started, 3)
            super().log(logs, start_time)

    return SftTrainer


def _run_callback(progress: ProgressFn | None, on_step: StepHook | None, checkpoint_every: int) -> Any:
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        """Checkpoints every ``checkpoint_every`` steps; ragtune's progress and step hook (rank 0)."""

        def __init__(self) -> None:
            self.fired = 0
            self.pending: int | None = None
            self.recent: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step % checkpoint_every == 0:
                control.should_save = True
            if control.should_save:
                self.pending = state.global_step  # report once the checkpoint is on disk
            else:
                self._fire(state)
            return control

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if self.pending is not None:
                self._fire(state)
                self.pending = None
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
            if logs and "loss" in logs:
                self.recent = (self.recent + [float(logs["loss"])])[-10:]
            return control

        def _fire(self, state: Any) -> None:
            if state.global_step <= self.fired:
                return
            self.fired = state.global_step
            if progress is not None and state.is_world_process_zero:
                running = sum(self.recent) / len(self.recent) if self.recent else None
                progress(state.global_step, state.max_steps, running)
            if on_step is not None:
                on_step(state.global_step)

    return RunCallback()


def quiet_libraries() -> None:
    """Silence transformers/accelerate info logs and their progress bars (ragtune shows its own)."""
    import logging

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for name in ("accelerate", "torch.distributed", "bitsandbytes"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _peak_memory_mb(plan: HardwarePlan) -> float:
    import torch

    if plan.device == "cuda" and torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _outcome_from_history(history: list[dict[str, Any]], steps_per_epoch: int) -> dict[str, Any]:
    train = [
        LossPoint(step=e["step"], epoch=round(e["step"] / steps_per_epoch, 3), loss=e["loss"])
        for e in history
        if "loss" in e and "step" in e
    ]
    evals = [
        LossPoint(step=e["step"], epoch=round(e["step"] / steps_per_epoch, 3), loss=e["eval_loss"])
        for e in history
        if "eval_loss" in e and not math.isnan(e["eval_loss"])
    ]
    return {
        "train_losses": train,
        "eval_losses": evals,
        "trained_tokens": int(sum(e.get("trained_tokens", 0) for e in history)),
        "elapsed_seconds": max((e.get("elapsed_seconds", 0.0) for e in history), default=0.0),
    }


def train_model(
    model: Any,
    train: list[EncodedExample],
    evaluation: list[EncodedExample],
    *,
    hp: TrainSettings,
    plan: HardwarePlan,
    learning_rate: float,
    pad_id: int,
    run_dir: Path,
    config_sha256: str,
    epochs: float | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    on_step: StepHook | None = None,
    callbacks: list[Any] | None = None,
) -> tuple[TrainOutcome, Any]:
    """Train ``model`` with transformers' Trainer; returns the outcome and the trainer.

    On return the trainer's model holds the weights with the lowest eval loss. Evaluates at the end
    of every epoch and at the last step, stops early after ``hp.early_stopping_patience``
    evaluations without improvement, writes a checkpoint every ``hp.checkpoint_every`` steps and at
    each evaluation into ``run_dir`` (rank 0), and with ``resume`` continues from the newest one
    there (same data and settings required). Under ``accelerate launch`` every process calls this.
    ``callbacks`` are further ``TrainerCallback``s (e.g. a benchmark's clock).
    """
    from transformers import EarlyStoppingCallback, TrainingArguments

    if not train:
        raise TrainingError("no training examples (all were dropped or held out)")
    quiet_libraries()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    steps_per_epoch, total_steps = plan_steps(len(train), hp, epochs, max_steps, processes=world)
    checkpoint = last_checkpoint(run_dir) if resume else None
    run_file = run_dir / RUN_FILE
    if checkpoint is not None:
        recorded = json.loads(run_file.read_text()) if run_file.is_file() else {}
        if recorded.get("config_sha256") != config_sha256 or recorded.get("processes", 1) != world:
            raise TrainingError(
                f"the checkpoint in {run_dir} belongs to a run with other data, model, settings or process "
                "count; train without --resume to start over"
            )
    elif rank == 0:
        shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished earlier run of this name is replaced
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps({"config_sha256": config_sha256, "processes": world}))
    has_eval = bool(evaluation)
    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=max(hp.batch_size, 8),
        gradient_accumulation_steps=hp.grad_accum,
        learning_rate=learning_rate,
        weight_decay=hp.weight_decay,
        max_grad_norm=hp.max_grad_norm,
        lr_scheduler_type="linear",
        warmup_steps=int(total_steps * hp.warmup_ratio),
        max_steps=total_steps,
        optim="adamw_torch",
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False,
        restore_callback_states_from_checkpoint=True,
        logging_strategy="steps",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        log_level="error",
        log_level_replica="error",
        seed=hp.seed,
        data_seed=hp.seed,
        bf16=plan.autocast and plan.precision == "bf16",
        fp16=plan.autocast and plan.precision == "fp16",
        use_cpu=plan.device == "cpu",
        gradient_checkpointing=hp.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if hp.gradient_checkpointing else None,
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        ddp_backend="gloo" if plan.device == "cpu" and world > 1 else None,
        ddp_find_unused_parameters=False if world > 1 else None,
        save_on_each_node=False,
        include_num_input_tokens_seen="non_padding",
    )
    handlers = [_run_callback(progress, on_step, hp.checkpoint_every), *(callbacks or [])]
    if has_eval and hp.early_stopping_patience > 0:
        handlers.append(EarlyStoppingCallback(early_stopping_patience=hp.early_stopping_patience))
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=_Examples(train),
        eval_dataset=_Examples(evaluation),
        data_collator=lambda batch: collate(batch, pad_id),
        callbacks=handlers,
        eval_examples=evaluation,
        pad_id=pad_id,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # disable_tqdm swaps the bar for a printer of every log
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    state = trainer.state
    figures = _outcome_from_history(state.log_history, steps_per_epoch)
    best_step = int(state.best_global_step or 0)
    stopped_early = state.global_step < total_steps
    trainer.model.eval()
    outcome = TrainOutcome(
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        steps_done=state.global_step,
        best_step=best_step,
        best_eval_loss=state.best_metric,
        stopped_early=stopped_early,
        resumed_from_step=int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint else None,
        device=plan.device,
        precision=plan.precision,
        processes=world,
        peak_memory_mb=_peak_memory_mb(plan),
        **figures,
    )
    return outcome, trainer
