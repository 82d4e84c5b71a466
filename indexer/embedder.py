"""The sentence-transformers embedder (and optional cross-encoder), loaded once, offline."""

from __future__ import annotations

import json
import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import IndexerError


class Embedder:
    """Unit-length float32 embeddings of texts with a local sentence-transformers model."""

    def __init__(self, model_path: Path, batch_size: int = 64) -> None:
        self.model_path = Path(model_path)
        self.batch_size = batch_size

    @classmethod
    def shared(cls, model_path: Path, batch_size: int = 64) -> Embedder:
        """One embedder per (folder, batch size) in this process, so stores share the weights."""
        return _shared_embedder(Path(model_path).resolve(), batch_size)

    def twin(self) -> Embedder:
        """A separate instance of the same model (own weights and tokenizer), for a thread that
        encodes while another one does: one instance is not safe to use from two threads at once
        (the fast tokenizer's padding state is shared)."""
        return Embedder(self.model_path, self.batch_size)

    @cached_property
    def model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise IndexerError(f"cannot load the embedder from {self.model_path}: {exc}") from None

    @cached_property
    def tokenizer(self) -> Any:
        """The embedder's own tokenizer (chunk sizes are counted in its tokens)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.model_path), local_files_only=True)

    @property
    def name(self) -> str:
        return self.model_path.name

    @cached_property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def max_tokens(self) -> int | None:
        """The most text tokens one input may have before the model truncates it: its
        ``max_seq_length`` less the two special tokens, read from the folder (no model load);
        None when the folder does not say."""
        config = self.model_path / "sentence_bert_config.json"
        try:
            length = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        except (OSError, ValueError):
            return None
        return int(length) - 2 if isinstance(length, int) and length > 2 else None

    def encode(self, texts: list[str], kind: str | None = None) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised so inner product = cosine. ``kind``
        ``"query"`` or ``"document"`` uses sentence-transformers' ``encode_query`` /
        ``encode_document``, which apply the model's own prompts for that side (e5/bge-style
        embedders need them; a model without prompts encodes both the same way)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encode = self.model.encode
        if kind is not None:
            encode = getattr(self.model, f"encode_{kind}", encode)
        vectors = encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, texts: list[str]) -> np.ndarray:
        """Queries, with the model's query prompt. While the sentence-transformers model is not
        loaded in this process (a CLI search), a model ``LeanEncoder`` reproduces is run in numpy
        instead: the same vectors without importing torch."""
        if "model" not in self.__dict__ and self.lean is not None:
            return self.lean.encode(texts)
        return self.encode(texts, "query")

    @cached_property
    def lean(self) -> Any:
        """The torch-free query encoder of this model, or None when it cannot reproduce it."""
        from indexer.lean_encoder import LeanEncoder

        return LeanEncoder(self.model_path) if LeanEncoder.supports(self.model_path) else None

    def encode_document(self, texts: list[str]) -> np.ndarray:
        """Passages, with the model's document prompt."""
        return self.encode(texts, "document")


@lru_cache(maxsize=8)
def _shared_embedder(model_path: Path, batch_size: int) -> Embedder:
    return Embedder(model_path, batch_size)


class Reranker:
    """A local cross-encoder that scores (query, passage) pairs."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)

    @cached_property
    def model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(str(self.model_path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise IndexerError(f"cannot load the re-ranker from {self.model_path}: {exc}") from None

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        return [float(s) for s in self.model.predict([(query, p) for p in passages], show_progress_bar=False)]
