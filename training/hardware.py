"""Where and in which precision a run trains: a pure decision from the machine's capabilities.

``choose_hardware`` is a pure function (unit-tested without a GPU); ``probe_capabilities`` reads the
real machine. The rules:

* device ``auto`` → CUDA when a CUDA device is visible, else the CPU; ``cuda`` without one is an error;
* precision ``auto`` → bf16 on a GPU that supports it, else fp16 on a GPU; on the CPU fp32 for LoRA
  and full fine-tuning and bf16 compute for QLoRA (its 4-bit base computes in bf16; the behaviour
  before devices were selectable);
* fp16 on the CPU and bf16 on a GPU without bf16 support are refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from training.modeling import TrainingError

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Dtype = Literal["fp32", "bf16", "fp16"]


class Capabilities(BaseModel):
    """What the machine offers."""

    cuda_devices: int = 0
    cuda_bf16: bool = False
    cuda_name: str | None = None


class HardwarePlan(BaseModel):
    """The decision for one run."""

    device: Literal["cpu", "cuda"]
    precision: Dtype
    """The compute precision (for QLoRA: bitsandbytes' compute dtype)."""
    autocast: bool
    """Mixed precision through accelerate (Trainer ``bf16``/``fp16``); False computes in the load dtype."""
    load_dtype: Dtype
    """dtype of the base weights as loaded (frozen for LoRA/QLoRA; master weights for full)."""
    device_name: str | None = None


def choose_hardware(
    caps: Capabilities, device: Device = "auto", precision: Precision = "auto", method: str = "lora"
) -> HardwarePlan:
    """Decide device and precision for ``method`` on a machine with ``caps``; TrainingError if impossible."""
    if device == "cuda" and caps.cuda_devices == 0:
        raise TrainingError(
            "--device cuda: no CUDA device is visible (torch.cuda.is_available() is False); use --device cpu or auto"
        )
    on_gpu = device == "cuda" or (device == "auto" and caps.cuda_devices > 0)
    chosen: Dtype
    if precision == "auto":
        if on_gpu:
            chosen = "bf16" if caps.cuda_bf16 else "fp16"
        else:
            chosen = "bf16" if method == "qlora" else "fp32"
    else:
        chosen = precision
    if not on_gpu and chosen == "fp16":
        raise TrainingError("--precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    if on_gpu and chosen == "bf16" and not caps.cuda_bf16:
        raise TrainingError(
            f"--precision bf16: this GPU ({caps.cuda_name or 'cuda'}) has no bfloat16 support; use fp16 or fp32"
        )
    load: Dtype
    if not on_gpu and method == "qlora":
        # bitsandbytes' CPU backend computes in its compute dtype itself; no autocast around it
        autocast, load = False, chosen
    elif method == "full":
        autocast, load = chosen != "fp32", "fp32"  # fp32 master weights, bf16/fp16 compute
    elif on_gpu:
        autocast, load = chosen != "fp32", chosen  # frozen base in the compute dtype, fp32 adapters
    else:
        autocast, load = chosen != "fp32", "fp32"
    return HardwarePlan(
        device="cuda" if on_gpu else "cpu",
        precision=chosen,
        autocast=autocast,
        load_dtype=load,
        device_name=caps.cuda_name if on_gpu else "cpu",
    )


def probe_capabilities() -> Capabilities:
    """The capabilities of this machine (CUDA devices visible to this process, bf16 support)."""
    import torch

    if not torch.cuda.is_available():
        return Capabilities()
    return Capabilities(
        cuda_devices=torch.cuda.device_count(),
        cuda_bf16=torch.cuda.is_bf16_supported(),
        cuda_name=torch.cuda.get_device_name(0),
    )


def torch_dtype(name: str):
    """The torch dtype of a precision name."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
