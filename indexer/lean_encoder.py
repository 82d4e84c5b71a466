"""Query embeddings without torch: a BERT sentence-transformers model run in numpy, for the CLI.

``ragtune index search`` embeds one short query. Loading sentence-transformers for it imports
torch, transformers, scikit-learn, peft and bitsandbytes (about 7 s of CPU on this machine) for
a forward pass that takes milliseconds. ``LeanEncoder`` reads the same folder (``tokenizer.json``
with the ``tokenizers`` library, ``model.safetensors`` with ``safetensors.numpy``) and computes the
same embedding in float32 numpy.

It only takes the models it reproduces exactly (``LeanEncoder.supports``): a BERT encoder
(``model_type: bert``, absolute positions, ``gelu``) followed by mean pooling and normalisation,
without prompts; anything else (e5/bge prompts, other pooling, other architectures) goes through
sentence-transformers as before. The embeddings agree with sentence-transformers' to float32
rounding (``tests/integration/test_indexer_lean_encoder.py``).
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

BERT_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorised: float32 rounding is coarser."""
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT's ``hidden_act: gelu``."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(np.float32)


class LeanEncoder:
    """Embeds texts like the sentence-transformers model in ``model_path`` (see module docstring)."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)

    @staticmethod
    def supports(model_path: Path) -> bool:
        """True when the folder holds a model this encoder reproduces exactly."""
        folder = Path(model_path)
        modules = _read(folder / "modules.json")
        config = _read(folder / "config.json") or {}
        pooling = _read(folder / "1_Pooling" / "config.json") or {}
        st_config = _read(folder / "config_sentence_transformers.json") or {}
        if not isinstance(modules, list) or [m.get("type") for m in modules] != BERT_MODULES:
            return False
        mean_only = pooling.get("pooling_mode_mean_tokens") is True and not any(
            pooling.get(k)
            for k in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
                "pooling_mode_weightedmean_tokens",
                "pooling_mode_lasttoken",
            )
        )
        return (
            mean_only
            and config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and not any((st_config.get("prompts") or {}).values())
            and not st_config.get("default_prompt_name")
            and (folder / "tokenizer.json").is_file()
            and (folder / "model.safetensors").is_file()
        )

    @cached_property
    def _config(self) -> dict[str, Any]:
        config = _read(self.model_path / "config.json") or {}
        bert = _read(self.model_path / "sentence_bert_config.json") or {}
        config["max_seq_length"] = int(bert.get("max_seq_length") or config.get("max_position_embeddings", 512))
        return config

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self._config["max_seq_length"])
        return tokenizer

    @cached_property
    def _weights(self) -> dict[str, np.ndarray]:
        from safetensors.numpy import load_file

        weights = load_file(str(self.model_path / "model.safetensors"))
        return {name.removeprefix("bert."): value for name, value in weights.items()}

    def _embed_one(self, text: str) -> np.ndarray:
        w, config = self._weights, self._config
        ids = np.asarray(self._tokenizer.encode(text).ids, dtype=np.int64)
        eps = float(config.get("layer_norm_eps", 1e-12))
        heads = int(config["num_attention_heads"])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        size = x.shape[-1] // heads
        for layer in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return h @ w[f"{p}{name}.weight"].T + w[f"{p}{name}.bias"]

            q, k, v = (
                dense(x, f"attention.self.{n}").reshape(len(ids), heads, size).transpose(1, 0, 2)
                for n in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attended = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = attended.transpose(1, 0, 2).reshape(len(ids), -1)
            x = _layer_norm(
                dense(attended, "attention.output.dense") + x,
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
                eps,
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(hidden, "output.dense") + x, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps
            )
        pooled = x.mean(0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised, as sentence-transformers computes them.
        One BLAS thread: a query's matrices are small, and more threads only contend for cores."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            rows = [self._embed_one(text) for text in texts]
        return np.ascontiguousarray(np.stack(rows) if rows else np.zeros((0, 0)), dtype=np.float32)
