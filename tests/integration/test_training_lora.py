"""Real training with the tiny generator: masking on real token ids, a LoRA run that changes the
output, exact resume after a crash, QLoRA, and merging.

Kept lean: one shared few-step LoRA run (session fixture) serves most checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragtune.settings import Settings, TrainSettings
from training.adapter_folder import list_adapters, read_card
from training.adapter_folder import merge as merge_adapter
from training.adapters import AdapterCard
from training.chat_tokens import IGNORE_INDEX, encode_example
from training.modeling import load_tokenizer
from training.pipeline import TrainRequest, train_adapter
from training.readers import read_examples
from training.records import Message
from training.sample import sample_dataset_path, sample_style_guide_path

pytestmark = pytest.mark.integration
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTION = [{"role": "user", "content": "What does a bygglov cost?"}]


def _settings(home: Path, models_dir: Path, **train: object) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    link = home / "models"
    if not link.exists():
        link.symlink_to(models_dir, target_is_directory=True)
    defaults = dict(
        batch_size=2,
        max_seq_len=160,
        learning_rate=3e-3,
        checkpoint_every=1,
        style_prompts=2,
        style_max_new_tokens=24,
        warmup_ratio=0.0,
        early_stopping_patience=0,
    )
    return Settings(home=home, train=TrainSettings(**{**defaults, **train}))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 train + 4 eval examples of the bundled brand voice."""
    lines = sample_dataset_path().read_text(encoding="utf-8").splitlines()
    train = [line for line in lines if '"split": "train"' in line][:12]
    held_out = [line for line in lines if '"split": "eval"' in line][:4]
    path = tmp_path_factory.mktemp("tiny") / "tiny_voice.jsonl"
    path.write_text("\n".join(train + held_out) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def lora_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_data: Path) -> Settings:
    """A home holding adapter 'tiny-voice': 3 LoRA steps on the tiny data."""
    settings = _settings(tmp_path_factory.mktemp("lora") / "home", models_dir)
    train_adapter(
        TrainRequest(data=tiny_data, name="tiny-voice", max_steps=3, style_guide=sample_style_guide_path()), settings
    )
    return settings


def _greedy(model, tokenizer, max_new_tokens: int = 12) -> str:
    from training.evaluation import generate_replies

    return generate_replies(model, tokenizer, [QUESTION], max_new_tokens=max_new_tokens)[0]


def test_assistant_only_labels_on_real_token_ids(generator_path: Path, tiny_data: Path) -> None:
    tokenizer = load_tokenizer(generator_path)
    (_, example), *_ = read_examples(tiny_data)[0]
    multi = example.model_copy(
        update={
            "messages": example.messages
            + [Message(role="user", content="And in Malmö?"), Message(role="assistant", content="Hej! The same.")]
        }
    )
    encoded = encode_example(multi, tokenizer, max_len=1024)
    assert len(encoded.input_ids) == len(encoded.labels)
    labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(encoded.input_ids, encoded.labels, strict=True))
    text = tokenizer.decode(labelled)
    end = tokenizer.eos_token  # <|im_end|>: the model learns to stop
    assert text == f"{example.messages[1].content}{end}\n" + f"Hej! The same.{end}\n"
    # nothing of the system prompt, the questions or the role headers is trained
    pairs = zip(encoded.input_ids, encoded.labels, strict=True)
    masked = tokenizer.decode([t for t, label in pairs if label == IGNORE_INDEX])
    assert example.messages[0].content in masked and "And in Malmö?" in masked
    assert "Hej!" not in masked
    assert encoded.labels[0] == IGNORE_INDEX
    # the first labelled token follows the assistant header exactly
    first = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
    assert tokenizer.decode(encoded.input_ids[:first]).endswith("<|im_start|>assistant\n")
    short = encode_example(multi, tokenizer, max_len=20)
    assert len(short.input_ids) == 20 and len(short.labels) == 20


def test_loss_on_labelled_positions_matches_transformers(generator_path: Path, tiny_data: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from training.evaluation import collate, token_loss_sum

    tokenizer = load_tokenizer(generator_path)
    examples = [encode_example(e, tokenizer, 256) for _, e in read_examples(tiny_data)[0][:2]]
    batch = collate(examples, tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_pretrained(str(generator_path)).eval()
    with torch.no_grad():
        ours, count = token_loss_sum(model, batch)
        reference = model(**batch).loss
    assert count == sum(e.trained_tokens for e in examples)
    assert abs(float(ours) / count - float(reference)) < 1e-4


def test_lora_run_writes_card_and_changes_output(lora_home: Settings, generator_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    target = lora_home.adapters_dir / "tiny-voice"
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_card.json", "README.md", "metrics.json"):
        assert (target / name).is_file(), name
    card = read_card(target)
    assert card.method == "lora" and card.base_model == "smollm2-135m-instruct"
    assert (card.train_examples, card.eval_examples) == (12, 4)
    assert len(card.data_sha256) == 64 and card.hyperparameters["steps_done"] == 3
    assert card.eval_loss_after < card.eval_loss_before
    assert card.style_score_before is not None and card.style_score_after is not None
    assert card.train_seconds > 0 and card.train_cost_usd > 0
    assert [c.name for c in list_adapters(lora_home.adapters_dir)] == ["tiny-voice"]
    metrics = json.loads((target / "metrics.json").read_text())
    assert len(metrics["train_losses"]) == 3 and metrics["eval_losses"][-1]["step"] == 3
    assert "eval loss before → after" in (target / "README.md").read_text()
    assert not (lora_home.runs_dir / "tiny-voice").exists()  # checkpoints removed once finished

    tokenizer = load_tokenizer(generator_path)
    base = AutoModelForCausalLM.from_pretrained(str(generator_path))
    base_text = _greedy(base, tokenizer)
    tuned = PeftModel.from_pretrained(base, str(target))
    tuned_text = _greedy(tuned, tokenizer)
    assert tuned_text != base_text


def test_existing_adapter_is_not_overwritten(lora_home: Settings, tiny_data: Path) -> None:
    from ragtune.errors import ConflictError

    before = (lora_home.adapters_dir / "tiny-voice" / "adapter_card.json").read_bytes()
    with pytest.raises(ConflictError, match="already exists"):
        train_adapter(TrainRequest(data=tiny_data, name="tiny-voice", max_steps=1), lora_home)
    assert (lora_home.adapters_dir / "tiny-voice" / "adapter_card.json").read_bytes() == before


def test_resume_after_crash_matches_uninterrupted_run(lora_home: Settings, tiny_data: Path) -> None:
    from safetensors.torch import load_file

    class Crash(RuntimeError):
        pass

    def crash_at_step_2(step: int) -> None:
        if step == 2:
            raise Crash("simulated crash")

    request = TrainRequest(data=tiny_data, name="resumed", max_steps=3)  # same run identity as tiny-voice
    with pytest.raises(Crash):
        train_adapter(request, lora_home, on_step=crash_at_step_2)
    assert not (lora_home.adapters_dir / "resumed").exists()
    checkpoint = lora_home.runs_dir / "resumed" / "checkpoint-2"  # the Trainer's checkpoint of step 2
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"} <= {
        p.name for p in checkpoint.iterdir()
    }
    card = train_adapter(request.model_copy(update={"resume": True}), lora_home)
    assert card.hyperparameters["resumed_from_step"] == 2
    assert card.hyperparameters["steps_done"] == 3
    resumed = load_file(str(lora_home.adapters_dir / "resumed" / "adapter_model.safetensors"))
    straight = load_file(str(lora_home.adapters_dir / "tiny-voice" / "adapter_model.safetensors"))
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert (resumed[key] - straight[key]).abs().max() < 1e-5, key


def test_merge_gives_the_adapter_output(lora_home: Settings, generator_path: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = lora_home.adapters_dir / "tiny-voice"
    out = merge_adapter(generator_path, adapter, tmp_path / "merged")
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file()
    tokenizer = load_tokenizer(out)
    merged_text = _greedy(AutoModelForCausalLM.from_pretrained(str(out)), tokenizer)
    base = AutoModelForCausalLM.from_pretrained(str(generator_path))
    assert merged_text == _greedy(PeftModel.from_pretrained(base, str(adapter)), tokenizer)


def test_qlora_trains_in_4bit(tmp_path: Path, models_dir: Path, tiny_data: Path) -> None:
    settings = _settings(tmp_path / "home", models_dir, style_prompts=0)
    card = train_adapter(TrainRequest(data=tiny_data, name="tiny-qlora", method="qlora", max_steps=1), settings)
    assert card.method == "qlora"
    assert (Path(card.path) / "adapter_model.safetensors").is_file()
    assert card.eval_loss_before is not None and card.eval_loss_after is not None


def test_full_fine_tune_writes_a_model_the_engines_serve(tmp_path: Path, models_dir: Path, tiny_data: Path) -> None:
    from services.engines.factory import discover_adapters
    from training.adapter_folder import is_full_model

    settings = _settings(tmp_path / "home", models_dir, style_prompts=0)
    card = train_adapter(TrainRequest(data=tiny_data, name="tiny-full", method="full", max_steps=1), settings)
    folder = Path(card.path)
    assert card.method == "full" and card.is_full_model
    for name in ("config.json", "model.safetensors", "tokenizer.json", "adapter_card.json", "metrics.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "adapter_config.json").exists()
    assert card.eval_loss_before is not None and card.eval_loss_after is not None
    assert is_full_model(folder) and discover_adapters(settings.adapters_dir) == {"tiny-full": folder}
    assert [c.method for c in list_adapters(settings.adapters_dir)] == ["full"]


def test_two_cpu_processes_train_one_adapter(lora_home: Settings, tmp_path: Path, tiny_data: Path) -> None:
    """`ragtune train --processes 2` on the CPU (gloo): one adapter, written by rank 0, whose eval
    loss is within 5 % of the single-process run with the same global batch (tiny-voice: 1 × 2)."""
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(lora_home.models_dir, target_is_directory=True)
    single = read_card(lora_home.adapters_dir / "tiny-voice")
    hp = single.hyperparameters
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        "RAGTUNE_TRAIN__BATCH_SIZE": "1",  # per process: the global batch is 2 × 1, as in tiny-voice
        "RAGTUNE_TRAIN__MAX_SEQ_LEN": str(hp["max_seq_len"]),
        "RAGTUNE_TRAIN__LEARNING_RATE": str(hp["learning_rate"]),
        "RAGTUNE_TRAIN__WARMUP_RATIO": "0",
        "RAGTUNE_TRAIN__EARLY_STOPPING_PATIENCE": "0",
        "RAGTUNE_TRAIN__STYLE_PROMPTS": "0",
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragtune.cli",
            "train",
            "--data",
            str(tiny_data),
            "--name",
            "dp",
            "--max-steps",
            "3",
            "--processes",
            "2",
            "--device",
            "cpu",
            "--json",
        ],
        cwd=Path(__file__).resolve().parent.parent.parent,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    card = AdapterCard.model_validate_json(result.stdout[result.stdout.index("{") :])
    assert result.stdout.count('"name": "dp"') == 1  # rank 0 alone reports
    assert card.processes == 2 and card.device == "cpu" and card.precision == "fp32"
    assert card.hyperparameters["global_batch_size"] == 2 and card.hyperparameters["steps_done"] == 3
    adapters = home / "adapters"
    assert sorted(p.name for p in adapters.iterdir()) == ["dp"]  # exactly one adapter, no staging left
    assert (adapters / "dp" / "adapter_model.safetensors").is_file()
    assert not (home / "runs" / "dp").exists()
    assert abs(card.eval_loss_after - single.eval_loss_after) <= 0.05 * single.eval_loss_after


def test_early_stopping_restores_the_best_weights(
    tmp_path: Path, models_dir: Path, tiny_data: Path, generator_path: Path
) -> None:
    """A learning rate far too high makes the eval loss rise: training stops after `patience`
    evaluations without improvement, and the adapter written is the one of the best evaluation."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.evaluation import eval_loss

    lines = tiny_data.read_text().splitlines()
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(lines[:4] + lines[-2:]) + "\n")  # 4 train (2 steps per epoch), 2 eval
    settings = _settings(
        tmp_path / "home",
        models_dir,
        style_prompts=0,
        learning_rate=1.0,
        early_stopping_patience=1,
        checkpoint_every=100,
    )
    card = train_adapter(TrainRequest(data=small, name="too-fast", epochs=6), settings)
    hp = card.hyperparameters
    evals = json.loads((Path(card.path) / "metrics.json").read_text())["eval_losses"]
    assert hp["stopped_early"] is True and hp["steps_done"] < hp["max_steps"] == 12
    best = min(evals, key=lambda point: point["loss"])
    assert hp["best_step"] == best["step"] < hp["steps_done"]
    assert card.eval_loss_after == pytest.approx(best["loss"], abs=1e-4)
    # the adapter on disk is the best one, not the last one
    tokenizer = load_tokenizer(generator_path)
    eval_examples = [encode_example(e, tokenizer, 160) for _, e in read_examples(small)[0] if e.split == "eval"]
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(generator_path)), card.path)
    assert eval_loss(tuned, eval_examples, tokenizer.pad_token_id) == pytest.approx(best["loss"], abs=1e-3)
