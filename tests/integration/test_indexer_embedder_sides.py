"""The embedder's two sides (query and document prompts) and its sequence limit, with real MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer import DocumentStore
from indexer.embedder import Embedder
from ragtune.settings import IndexSettings

pytestmark = pytest.mark.integration


def test_queries_and_documents_use_the_models_prompts(embedder_path: Path) -> None:
    embedder = Embedder(embedder_path)
    text = ["How long is an energy declaration valid?"]
    # MiniLM has no prompts: both sides encode alike
    assert np.allclose(embedder.encode_query(text), embedder.encode_document(text), atol=1e-6)
    embedder.model.prompts = {"query": "query: ", "document": "passage: "}  # as an e5-style model ships
    try:
        assert np.allclose(
            embedder.encode_query(text), embedder.model.encode(["query: " + text[0]], normalize_embeddings=True)
        )
        assert not np.allclose(embedder.encode_query(text), embedder.encode_document(text), atol=1e-3)
    finally:
        embedder.model.prompts = {}


def test_chunks_are_capped_at_what_the_embedder_reads(tmp_path: Path, embedder_path: Path) -> None:
    embedder = Embedder(embedder_path)
    assert embedder.max_tokens == 254  # MiniLM's 256 less [CLS] and [SEP]
    words = " ".join(f"word{i} is here." for i in range(900))
    source = tmp_path / "long.md"
    source.write_text(f"# Long\n\n{words}\n")
    with DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings(chunk_tokens=8192)) as store:
        store.add_paths([source], namespace="default")
        assert store.chunker().chunk_tokens == 254
        hits = store.search("word5 is here", k=50, namespace="default")
        assert len(hits) > 1  # one 8192-token chunk would have been embedded by its first 254 tokens only
        for hit in hits:
            assert len(embedder.tokenizer.encode(hit.text, add_special_tokens=False)) <= 254
