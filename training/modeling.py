"""Load the base model and tokenizer for one training method (LoRA, QLoRA or full fine-tuning)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import RagtuneError
from ragtune.settings import TrainSettings

if TYPE_CHECKING:
    from training.hardware import HardwarePlan

METHODS = ("lora", "qlora", "full")


class TrainingError(RagtuneError):
    """Training cannot run as asked (bad method, platform limits, incompatible checkpoint…)."""


def load_tokenizer(base_dir: Path) -> Any:
    """The base model's tokenizer, with a pad token (the end-of-turn token when none is set)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(f"the base model in {base_dir} has no chat template; use an instruct model")
    return tokenizer


def lora_config(hp: TrainSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=list(hp.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _load_4bit(base_dir: Path, plan: HardwarePlan) -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from training.hardware import torch_dtype

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise TrainingError(f"--method qlora needs bitsandbytes (pip install bitsandbytes): {err}") from None
    compute = torch_dtype(plan.precision)
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)
    # each process puts its own copy on its own GPU (LOCAL_RANK under accelerate launch)
    place: Any = {"": int(os.environ.get("LOCAL_RANK", "0"))} if plan.device == "cuda" else "cpu"
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(base_dir), quantization_config=quantization, dtype=torch_dtype(plan.load_dtype), device_map=place
        )
    except Exception as err:  # noqa: BLE001 - any bitsandbytes/platform failure is a user-facing limit
        raise TrainingError(
            "--method qlora could not load the base model in 4-bit with bitsandbytes on this platform "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); use --method lora"
        ) from None
    if plan.device == "cuda":
        from peft import prepare_model_for_kbit_training

        # norms and embeddings in fp32 for stable 4-bit training (gradient checkpointing: Trainer's setting)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def load_trainable_model(base_dir: Path, method: str, hp: TrainSettings, plan: HardwarePlan | None = None) -> Any:
    """The model to train: peft-wrapped for ``lora``/``qlora`` (4-bit base), plain for ``full``.

    ``plan`` (default: the CPU in fp32, QLoRA in bf16) gives the dtype of the loaded weights and, for
    QLoRA, the GPU it is loaded on; the Trainer moves other models to the plan's device itself.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from training.hardware import Capabilities, choose_hardware, torch_dtype

    if method not in METHODS:
        raise TrainingError(f"unknown method '{method}' (choose one of {', '.join(METHODS)})")
    plan = plan or choose_hardware(Capabilities(), "cpu", "auto", method)
    torch.manual_seed(hp.seed)
    if method == "qlora":
        model = _load_4bit(base_dir, plan)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch_dtype(plan.load_dtype))
    model.config.use_cache = False
    if method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    try:
        return get_peft_model(model, lora_config(hp))
    except ValueError as err:
        raise TrainingError(f"LoRA settings do not fit this model: {err}") from None


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
