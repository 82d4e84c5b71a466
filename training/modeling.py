"""Load the base model and tokenizer for one training method (LoRA, QLoRA or full fine-tuning)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragtune.errors import RagtuneError
from ragtune.settings import TrainSettings

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

    return LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout,
                      target_modules=list(hp.target_modules), bias="none", task_type="CAUSAL_LM")


def _load_4bit(base_dir: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise TrainingError(f"--method qlora needs bitsandbytes (pip install bitsandbytes): {err}") from None
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=torch.bfloat16)
    try:
        return AutoModelForCausalLM.from_pretrained(str(base_dir), quantization_config=quantization,
                                                    dtype=torch.bfloat16, device_map="cpu")
    except Exception as err:  # noqa: BLE001 - any bitsandbytes/platform failure is a user-facing limit
        raise TrainingError(
            "--method qlora could not load the base model in 4-bit with bitsandbytes on this platform "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); use --method lora"
        ) from None


def load_trainable_model(base_dir: Path, method: str, hp: TrainSettings) -> Any:
    """The model to train: peft-wrapped for ``lora``/``qlora`` (4-bit base), plain for ``full``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    if method not in METHODS:
        raise TrainingError(f"unknown method '{method}' (choose one of {', '.join(METHODS)})")
    torch.manual_seed(hp.seed)
    if method == "qlora":
        model = _load_4bit(base_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
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
