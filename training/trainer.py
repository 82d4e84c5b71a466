"""The supervised fine-tuning loop: gradient accumulation, warm-up, eval per epoch, early stopping,
and resumable checkpoints (weights, optimizer, scheduler, RNG, data position).

A small hand loop rather than ``transformers.Trainer`` keeps the checkpoint format, the masking and
the progress reporting under ragtune's control and adds no extra dependency.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune.settings import TrainSettings
from training.chat_tokens import EncodedExample
from training.evaluation import collate, eval_loss, token_loss_sum
from training.modeling import TrainingError

ProgressFn = Callable[[int, int, float | None], None]
"""Called after each optimizer step with (step, total steps, running train loss)."""
StepHook = Callable[[int], None]
"""Called after each optimizer step (and checkpoint) with the step number; may raise to abort."""


class LossPoint(BaseModel):
    step: int
    epoch: float
    loss: float


class TrainState(BaseModel):
    """Everything needed to continue a run exactly where it stopped."""

    config_sha256: str
    step: int = 0
    epoch: int = 0
    micro_in_epoch: int = 0
    """Micro-batches of the current epoch already consumed."""
    best_eval_loss: float | None = None
    best_step: int = 0
    evals_without_improvement: int = 0
    stopped_early: bool = False
    finished: bool = False
    elapsed_seconds: float = 0.0
    trained_tokens: int = 0
    train_losses: list[LossPoint] = Field(default_factory=list)
    eval_losses: list[LossPoint] = Field(default_factory=list)


class TrainOutcome(BaseModel):
    state: TrainState
    total_steps: int
    steps_per_epoch: int
    resumed_from_step: int | None = None


def run_config_sha256(hp: TrainSettings, method: str, data_sha256: str, base_sha256: str) -> str:
    """Identity of a run: a checkpoint may only be resumed by the same data, model and settings."""
    payload = {"hp": hp.model_dump(mode="json"), "method": method, "data": data_sha256, "base": base_sha256}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _trainable_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


class Checkpointer:
    """Writes and reads the resumable state of one run under ``run_dir`` (atomically)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "checkpoint"

    def exists(self) -> bool:
        return (self.path / "state.json").is_file()

    def save(self, model: Any, optimizer: Any, scheduler: Any, state: TrainState,
             best: dict[str, Any] | None) -> None:
        import torch

        staging = self.run_dir / "checkpoint.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        torch.save(_trainable_state(model), staging / "weights.pt")
        if best is not None:
            torch.save(best, staging / "best.pt")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, staging / "optimizer.pt")
        (staging / "state.json").write_text(state.model_dump_json(indent=2))
        old = self.run_dir / "checkpoint.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        staging.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)

    def load(self, model: Any, optimizer: Any, scheduler: Any, config_sha256: str
             ) -> tuple[TrainState, dict[str, Any] | None]:
        import torch

        state = TrainState.model_validate_json((self.path / "state.json").read_text())
        if state.config_sha256 != config_sha256:
            raise TrainingError(
                f"the checkpoint in {self.path} belongs to a run with other data, model or settings; "
                "train without --resume to start over"
            )
        _load_trainable_state(model, torch.load(self.path / "weights.pt", weights_only=True))
        extra = torch.load(self.path / "optimizer.pt", weights_only=False)
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["torch_rng"])
        best_path = self.path / "best.pt"
        best = torch.load(best_path, weights_only=True) if best_path.is_file() else None
        return state, best

    def clear(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)


def plan_steps(n_train: int, hp: TrainSettings, epochs: float | None, max_steps: int | None) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) for a training set of ``n_train``."""
    micro_per_epoch = math.ceil(n_train / hp.batch_size)
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / hp.grad_accum))
    if max_steps is not None:
        return steps_per_epoch, max_steps
    return steps_per_epoch, max(1, math.ceil((epochs or hp.epochs) * steps_per_epoch))


def train_loop(
    model: Any,
    train: list[EncodedExample],
    evaluation: list[EncodedExample],
    *,
    hp: TrainSettings,
    learning_rate: float,
    pad_id: int,
    run_dir: Path,
    config_sha256: str,
    epochs: float | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    on_step: StepHook | None = None,
) -> TrainOutcome:
    """Train ``model`` in place; on return it holds the weights with the lowest eval loss.

    Evaluates at the end of every epoch and at the last step, stops early after
    ``hp.early_stopping_patience`` evaluations without improvement, and writes a checkpoint every
    ``hp.checkpoint_every`` steps and at each evaluation. With ``resume`` it continues from the
    checkpoint in ``run_dir`` (same data and settings required).
    """
    import torch

    if not train:
        raise TrainingError("no training examples (all were dropped or held out)")
    steps_per_epoch, total_steps = plan_steps(len(train), hp, epochs, max_steps)
    micro_per_epoch = math.ceil(len(train) / hp.batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=hp.weight_decay)
    warmup = int(total_steps * hp.warmup_ratio)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    checkpointer = Checkpointer(run_dir)
    state = TrainState(config_sha256=config_sha256)
    best: dict[str, Any] | None = None
    resumed_from = None
    if resume and checkpointer.exists():
        state, best = checkpointer.load(model, optimizer, scheduler, config_sha256)
        resumed_from = state.step
    else:
        torch.manual_seed(hp.seed)
    model.train()
    started = time.perf_counter() - state.elapsed_seconds

    def evaluate() -> bool:
        """Record the eval loss; True when training should stop early."""
        nonlocal best
        loss = eval_loss(model, evaluation, pad_id, batch_size=max(hp.batch_size, 8))
        if loss is None:
            return False
        state.eval_losses.append(LossPoint(step=state.step, epoch=round(state.step / steps_per_epoch, 3),
                                           loss=loss))
        if state.best_eval_loss is None or loss < state.best_eval_loss:
            state.best_eval_loss, state.best_step = loss, state.step
            state.evals_without_improvement = 0
            best = _trainable_state(model)
            return False
        state.evals_without_improvement += 1
        patience = hp.early_stopping_patience
        return patience > 0 and state.evals_without_improvement >= patience

    def checkpoint() -> None:
        state.elapsed_seconds = time.perf_counter() - started
        checkpointer.save(model, optimizer, scheduler, state, best)

    running: list[float] = []
    while state.step < total_steps and not state.stopped_early:
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(hp.seed + state.epoch)).tolist()
        batches = [order[i:i + hp.batch_size] for i in range(0, len(order), hp.batch_size)]
        while state.micro_in_epoch < micro_per_epoch and state.step < total_steps:
            group = batches[state.micro_in_epoch:state.micro_in_epoch + hp.grad_accum]
            collated = [collate([train[i] for i in batch], pad_id) for batch in group]
            tokens = sum(int((c["labels"][:, 1:] != -100).sum()) for c in collated)
            step_loss = 0.0
            for batch in collated:
                loss_sum, _ = token_loss_sum(model, batch)
                loss = loss_sum / max(tokens, 1)
                loss.backward()
                step_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.micro_in_epoch += len(group)
            state.step += 1
            state.trained_tokens += tokens
            running = (running + [step_loss])[-10:]
            state.train_losses.append(LossPoint(step=state.step, epoch=round(state.step / steps_per_epoch, 3),
                                                loss=step_loss))
            end_of_epoch = state.micro_in_epoch >= micro_per_epoch
            if end_of_epoch or state.step >= total_steps:
                state.stopped_early = evaluate()
                checkpoint()
            elif state.step % hp.checkpoint_every == 0:
                checkpoint()
            if progress is not None:
                progress(state.step, total_steps, sum(running) / len(running))
            if on_step is not None:
                on_step(state.step)
            if state.stopped_early:
                break
        if state.micro_in_epoch >= micro_per_epoch:
            state.epoch += 1
            state.micro_in_epoch = 0
    if best is not None:
        _load_trainable_state(model, best)
    state.finished = True
    state.elapsed_seconds = time.perf_counter() - started
    model.eval()
    return TrainOutcome(state=state, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                        resumed_from_step=resumed_from)
