"""Adapter cards on disk: reading, listing, skipping broken folders, names (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.errors import NotFoundError, RagtuneError
from training.adapter_folder import list_adapters, read_card, write_card
from training.adapters import AdapterCard, render_readme, validate_name

pytestmark = pytest.mark.unit


def _card(name: str, path: Path) -> AdapterCard:
    return AdapterCard(
        name=name,
        path=str(path),
        base_model="smollm2-135m-instruct",
        method="lora",
        data_sha256="ab" * 32,
        train_examples=10,
        eval_examples=2,
        hyperparameters={"lora_r": 16},
        eval_loss_before=2.5,
        eval_loss_after=1.5,
        style_score_before=0.2,
        style_score_after=0.9,
        train_seconds=12.0,
        train_cost_usd=0.0003,
    )


def _adapter(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    write_card(
        folder,
        _card(name, folder),
        {
            "eval_losses": [{"step": 3, "epoch": 1.0, "loss": 1.5}],
            "style_before": {"score": 0.2},
            "style_after": {"score": 0.9},
        },
    )
    return folder


def test_list_and_read(tmp_path: Path) -> None:
    _adapter(tmp_path, "b-voice")
    _adapter(tmp_path, "a-voice")
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_card.json").write_text("{not json")
    (broken / "adapter_config.json").write_text("{}")
    (tmp_path / ".a-voice-staging").mkdir()
    cards = list_adapters(tmp_path)
    assert [c.name for c in cards] == ["a-voice", "b-voice"]
    card = read_card(tmp_path / "a-voice")
    assert card.style_score_after == 0.9 and card.path == str((tmp_path / "a-voice").resolve())
    readme = (tmp_path / "a-voice" / "README.md").read_text()
    assert "style score before → after | 0.200 → 0.900" in readme
    assert "| 3 | 1.0 | 1.5000 |" in readme
    assert list_adapters(tmp_path / "missing") == []


def test_read_card_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not a ragtune adapter"):
        read_card(tmp_path)
    folder = _adapter(tmp_path, "x")
    (folder / "adapter_config.json").unlink()
    with pytest.raises(NotFoundError, match="no adapter weights"):
        read_card(folder)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_card.json").write_text('{"name": "x"}')
    with pytest.raises(RagtuneError, match="damaged"):
        read_card(folder)


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "-x", "x" * 65, "has space"])
def test_bad_names(name: str) -> None:
    with pytest.raises(RagtuneError, match="invalid adapter name"):
        validate_name(name)


def test_readme_renders_without_metrics(tmp_path: Path) -> None:
    text = render_readme(_card("v", tmp_path))
    assert "# Adapter `v`" in text and "lora_r" in text


def test_sample_adapter_is_reused_when_unchanged(home: Path) -> None:
    from ragtune.settings import Settings
    from training.sample import SAMPLE_ADAPTER, ensure_sample_adapter, sample_config_sha256

    settings = Settings(home=home)
    folder = settings.adapters_dir / SAMPLE_ADAPTER
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    card = _card(SAMPLE_ADAPTER, folder).model_copy(
        update={"hyperparameters": {"sample_config_sha256": sample_config_sha256(settings)}}
    )
    write_card(folder, card, {})
    assert ensure_sample_adapter(settings) == folder  # cached: no model needed, no training
    changed = Settings(home=home, train={"lora_r": 8})
    assert sample_config_sha256(changed) != sample_config_sha256(settings)


def test_readme_keeps_peft_front_matter_with_the_hub_id(tmp_path) -> None:
    import yaml

    from training.adapter_folder import write_card
    from training.adapters import AdapterCard, hub_id

    peft_readme = (
        "---\nbase_model: /home/u/.ragtune/models/smollm2-135m-instruct\nlibrary_name: peft\n"
        "pipeline_tag: text-generation\ntags:\n- base_model:adapter:/home/u/.ragtune/models/"
        "smollm2-135m-instruct\n- lora\n- transformers\n---\n\n# Model Card for Model ID\n"
    )
    (tmp_path / "README.md").write_text(peft_readme)
    card = AdapterCard(
        name="voice",
        path=str(tmp_path),
        base_model="smollm2-135m-instruct",
        method="lora",
        data_sha256="x",
        train_examples=1,
        eval_examples=1,
    )
    for _ in range(2):  # idempotent when the card is written again
        write_card(tmp_path, card, {})
        text = (tmp_path / "README.md").read_text()
        meta = yaml.safe_load(text.split("---")[1])
        assert meta["library_name"] == "peft" and meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
        assert meta["tags"] == [
            "lora",
            "transformers",
            "base_model:adapter:HuggingFaceTB/SmolLM2-135M-Instruct",
            "ragtune",
        ]
        assert "# Adapter `voice`" in text and text.count("---\n") == 2
    assert hub_id("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert hub_id("/models/local") is None and hub_id("./a/b") is None


def test_missing_hub_model_hint_names_the_current_cli(tmp_path) -> None:
    from ragtune.models import ModelNotFoundError, resolve

    with pytest.raises(ModelNotFoundError, match=r"`hf download nobody/no-such-model`"):
        resolve("nobody/no-such-model", tmp_path)
