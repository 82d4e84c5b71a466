"""Device and precision choice: a pure decision from the machine's capabilities (no GPU needed)."""

from __future__ import annotations

import pytest

from training.hardware import Capabilities, choose_hardware
from training.modeling import TrainingError
from training.trainer import plan_steps

pytestmark = pytest.mark.unit

CPU = Capabilities()
A100 = Capabilities(cuda_devices=1, cuda_bf16=True, cuda_name="NVIDIA A100")
T4 = Capabilities(cuda_devices=1, cuda_bf16=False, cuda_name="Tesla T4")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_cpu_keeps_fp32(method: str) -> None:
    plan = choose_hardware(CPU, "auto", "auto", method)
    assert (plan.device, plan.precision, plan.autocast, plan.load_dtype) == ("cpu", "fp32", False, "fp32")


def test_cpu_qlora_computes_in_bf16_without_autocast() -> None:
    plan = choose_hardware(CPU, "auto", "auto", "qlora")
    assert (plan.device, plan.precision, plan.autocast, plan.load_dtype) == ("cpu", "bf16", False, "bf16")


def test_gpu_with_bf16_is_used_in_bf16() -> None:
    lora = choose_hardware(A100, "auto", "auto", "lora")
    assert (lora.device, lora.precision, lora.autocast, lora.load_dtype) == ("cuda", "bf16", True, "bf16")
    assert lora.device_name == "NVIDIA A100"
    full = choose_hardware(A100, "auto", "auto", "full")
    assert (full.precision, full.autocast, full.load_dtype) == ("bf16", True, "fp32")  # fp32 master weights
    qlora = choose_hardware(A100, "auto", "auto", "qlora")
    assert (qlora.device, qlora.precision, qlora.autocast) == ("cuda", "bf16", True)


def test_gpu_without_bf16_falls_back_to_fp16_and_refuses_bf16() -> None:
    assert choose_hardware(T4, "auto", "auto", "lora").precision == "fp16"
    with pytest.raises(TrainingError, match="no bfloat16 support"):
        choose_hardware(T4, "auto", "bf16", "lora")


def test_overrides() -> None:
    assert choose_hardware(A100, "cpu", "auto", "lora").device == "cpu"  # a GPU can be left alone
    assert choose_hardware(A100, "auto", "fp32", "lora").autocast is False
    cpu_bf16 = choose_hardware(CPU, "cpu", "bf16", "lora")
    assert (cpu_bf16.precision, cpu_bf16.autocast, cpu_bf16.load_dtype) == ("bf16", True, "fp32")
    with pytest.raises(TrainingError, match="no CUDA device"):
        choose_hardware(CPU, "cuda", "auto", "lora")
    with pytest.raises(TrainingError, match="fp16 needs a GPU"):
        choose_hardware(CPU, "auto", "fp16", "lora")


def test_steps_count_the_global_batch() -> None:
    from ragtune.settings import TrainSettings

    hp = TrainSettings(batch_size=4, grad_accum=1)
    assert plan_steps(153, hp, 1.0, None) == (39, 39)  # the sample adapter: 39 steps of 4
    assert plan_steps(153, hp.model_copy(update={"batch_size": 2}), 1.0, None, processes=2) == (39, 39)
    assert plan_steps(12, hp.model_copy(update={"batch_size": 1}), None, 3, processes=2) == (6, 3)
