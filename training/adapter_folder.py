"""One adapter folder on disk: its file names, what kind it is, its card, and merging it.

Layout of ``RAGTUNE_HOME/adapters/NAME/`` (``ragtune train``): the peft adapter
(``adapter_config.json`` + ``adapter_model.safetensors``) or, for ``--method full``, a complete model
folder (``config.json`` + weights); ``adapter_card.json`` (an ``AdapterCard``), ``README.md`` (the
human-readable card) and ``metrics.json``. A bare peft folder (no card) and the layout
``NAME/adapter/`` are served too. Training writes folders through this module and serving
(``services``) reads them through it; nothing else spells these file names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.files import atomic_write, staged_dir
from training.adapters import AdapterCard, render_readme

CARD_FILE = "adapter_card.json"
METRICS_FILE = "metrics.json"
README_FILE = "README.md"
ADAPTER_CONFIG = "adapter_config.json"
"""peft's adapter config: marks a LoRA adapter folder."""
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
MODEL_CONFIG = "config.json"
"""transformers' model config: marks a full model folder."""
MERGE_INFO = "ragtune_merge.json"
"""Written into a merged model folder: what was merged into what."""
ADAPTER_SUBDIR = "adapter"

AdapterKind = Literal["lora", "full"]


def kind(folder: Path) -> AdapterKind | None:
    """``lora`` for a peft adapter folder, ``full`` for a complete (fully fine-tuned) model folder,
    None for neither."""
    folder = Path(folder)
    if (folder / ADAPTER_CONFIG).is_file():
        return "lora"
    if (folder / MODEL_CONFIG).is_file():
        return "full"
    return None


def is_full_model(folder: Path) -> bool:
    """True for a complete model folder (``ragtune train --method full``) rather than a peft adapter."""
    return kind(folder) == "full"


def not_an_adapter(folder: Path) -> str:
    """Why ``folder`` cannot be served as an adapter."""
    return (
        f"{folder} is neither a peft adapter folder (no {ADAPTER_CONFIG}) nor a fine-tuned model folder "
        f"(no {MODEL_CONFIG})"
    )


def find(folder: Path) -> Path | None:
    """The servable folder at ``folder``: itself (a peft adapter or a full fine-tuned model) or its
    ``adapter/`` sub-folder; None when neither."""
    folder = Path(folder)
    if kind(folder) is not None:
        return folder
    if kind(folder / ADAPTER_SUBDIR) == "lora":
        return folder / ADAPTER_SUBDIR
    return None


def require(folder: Path, error: type[RagtuneError] = NotFoundError) -> Path:
    """``folder`` if it holds a peft adapter or a full fine-tuned model, else ``error``."""
    if kind(folder) is None:
        raise error(not_an_adapter(folder))
    return Path(folder)


def lora_rank(folder: Path) -> int:
    """The LoRA rank ``r`` in an adapter's config (0 when unreadable)."""
    try:
        return int(json.loads((Path(folder) / ADAPTER_CONFIG).read_text()).get("r", 0))
    except (OSError, ValueError, TypeError):
        return 0


# --- the card ---------------------------------------------------------------------------------
def read_card(adapter_dir: Path) -> AdapterCard:
    """The card of the adapter in ``adapter_dir``; NotFoundError if the folder holds no adapter."""
    adapter_dir = Path(adapter_dir)
    card_path = adapter_dir / CARD_FILE
    if not card_path.is_file():
        raise NotFoundError(f"{adapter_dir} is not a ragtune adapter (no {CARD_FILE})")
    if kind(adapter_dir) is None:
        raise NotFoundError(f"{adapter_dir} has a card but no adapter weights ({ADAPTER_CONFIG})")
    try:
        card = AdapterCard.model_validate_json(card_path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as err:
        raise RagtuneError(f"{card_path} is damaged: {str(err).splitlines()[0]}") from None
    return card.model_copy(update={"path": str(adapter_dir.resolve())})


def find_card(path: Path) -> AdapterCard | None:
    """The card of the adapter served from ``path`` (the folder or, for ``NAME/adapter/``, its
    parent), or None when it has none or it cannot be read."""
    for folder in (Path(path), Path(path).parent):
        try:
            return read_card(folder)
        except RagtuneError:
            continue
    return None


def card_data(path: Path) -> dict[str, Any] | None:
    """The raw JSON of the card of the adapter served from ``path`` (the folder or, for
    ``NAME/adapter/``, its parent), without validating it (for checks that must not fail open on a
    card of another version), or None when there is no readable card."""
    for folder in (Path(path), Path(path).parent):
        try:
            data = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return data if isinstance(data, dict) else None
    return None


def update_card(adapter_dir: Path, change: Callable[[dict[str, Any]], None]) -> bool:
    """Apply ``change`` to the card's JSON data and write it back atomically; False (nothing
    written) when the folder has no card."""
    card_path = Path(adapter_dir) / CARD_FILE
    if not card_path.is_file():
        return False
    data = json.loads(card_path.read_text(encoding="utf-8"))
    change(data)
    atomic_write(card_path, json.dumps(data, indent=2, ensure_ascii=False))
    return True


def write_card(adapter_dir: Path, card: AdapterCard, metrics: dict[str, Any]) -> None:
    """Write ``adapter_card.json``, ``metrics.json`` and ``README.md`` into ``adapter_dir``."""
    adapter_dir = Path(adapter_dir)
    atomic_write(adapter_dir / CARD_FILE, card.model_dump_json(indent=2))
    atomic_write(adapter_dir / METRICS_FILE, json.dumps(metrics, indent=2, ensure_ascii=False))
    readme = adapter_dir / README_FILE
    existing = readme.read_text(encoding="utf-8") if readme.is_file() else None  # PEFT's model card
    atomic_write(readme, render_readme(card, metrics, existing))


def list_adapters(adapters_dir: Path) -> list[AdapterCard]:
    """The cards of every valid adapter folder under ``adapters_dir`` (of its promoted version, see
    ``training.versions``), by name; broken ones are skipped."""
    adapters_dir = Path(adapters_dir)
    if not adapters_dir.is_dir():
        return []
    from training import versions  # versions builds on this module

    cards = []
    for folder in sorted(adapters_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            cards.append(read_card(versions.serving(folder)[1]))  # the promoted version's card
        except RagtuneError:
            continue
    return cards


# --- merging ----------------------------------------------------------------------------------
def merge(base_model_dir: Path, adapter_dir: Path, out_dir: Path, *, info: dict[str, Any] | None = None) -> Path:
    """Merge the LoRA adapter in ``adapter_dir`` into its base (peft ``merge_and_unload``) and save a
    full model folder (weights, config, tokenizer, chat template) into ``out_dir``, which must not
    exist or be empty; vLLM serves it as a plain model.

    Works for carded ragtune adapters and bare peft folders alike; ``MERGE_INFO`` records the card
    (when there is one) and ``info``. Blocking (loads the base in fp32).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if kind(adapter_dir) == "full":
        raise RagtuneError(f"{adapter_dir} is already a full model; serve it directly")
    if kind(adapter_dir) is None:
        raise RagtuneError(f"{adapter_dir} holds no peft adapter to merge (no {ADAPTER_CONFIG})")
    card = find_card(adapter_dir) if (adapter_dir / CARD_FILE).is_file() else None
    if out_dir.exists() and any(out_dir.iterdir()):
        raise RagtuneError(f"{out_dir} exists and is not empty; choose another --out or remove it")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_model_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    with staged_dir(out_dir) as staging:
        merged.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        record: dict[str, Any] = {"base_model_dir": str(base_model_dir), "adapter_dir": str(adapter_dir.resolve())}
        if card is not None:
            merged_card = card.model_copy(update={"serving": {**card.serving, "merged_into": str(out_dir)}})
            record.update(
                {
                    "adapter": card.name,
                    "base_model": card.base_model,
                    "adapter_card": json.loads(merged_card.model_dump_json()),
                }
            )
        atomic_write(staging / MERGE_INFO, json.dumps({**record, **(info or {})}, indent=2))
    return out_dir
