"""The torch-free query encoder of the CLI search: the same vectors as sentence-transformers for the
shipped MiniLM, refused for models it cannot reproduce, and a search that never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.lean_encoder import LeanEncoder

pytestmark = pytest.mark.integration
TEXTS = [
    "How long does an energy declaration remain valid?",
    "Hur länge gäller en energideklaration? Åäö!",
    "",
    "roof " * 400,  # truncated at the model's max_seq_length like sentence-transformers does
]
DOCS = Path(__file__).resolve().parents[1] / "data" / "docs"


def test_same_vectors_as_sentence_transformers(embedder_path: Path) -> None:
    from indexer.embedder import Embedder

    assert LeanEncoder.supports(embedder_path)
    lean = LeanEncoder(embedder_path).encode(TEXTS)
    reference = Embedder(embedder_path).encode(TEXTS, "query")
    assert lean.dtype == np.float32 and lean.shape == reference.shape
    np.testing.assert_allclose(lean, reference, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(lean, axis=1), 1.0, atol=1e-5)


def test_models_it_cannot_reproduce_are_left_to_sentence_transformers(embedder_path: Path, tmp_path: Path) -> None:
    for name, change in [
        ("prompts", lambda f: (f / "config_sentence_transformers.json").write_text('{"prompts": {"query": "q: "}}')),
        ("cls", lambda f: (f / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')),
        ("roberta", lambda f: (f / "config.json").write_text('{"model_type": "roberta", "hidden_act": "gelu"}')),
        ("no-weights", lambda f: (f / "model.safetensors").unlink()),
    ]:
        folder = tmp_path / name
        shutil.copytree(embedder_path, folder, ignore=shutil.ignore_patterns("model.safetensors"))
        (folder / "model.safetensors").write_bytes(b"")
        change(folder)
        assert not LeanEncoder.supports(folder), name


PROBE = """
import json, sys
from pathlib import Path
from indexer.store import DocumentStore
from ragtune.settings import IndexSettings
with DocumentStore.open(Path(sys.argv[1]), Path(sys.argv[2]), IndexSettings(), read_only=True) as store:
    hits = store.search(sys.argv[3], k=2)
print(json.dumps({"ids": [h.chunk_id for h in hits], "torch": "torch" in sys.modules}))
"""


def test_a_read_only_search_imports_no_torch_and_finds_the_same(embedder_path: Path, tmp_path: Path) -> None:
    from indexer.store import DocumentStore
    from ragtune.settings import IndexSettings

    query = "how long is the warranty period"
    with DocumentStore.open(tmp_path / "index", embedder_path, IndexSettings()) as store:
        store.add_paths([DOCS / "roof-guide.md", DOCS / "warranty-sphinx.html"])
        expected = [h.chunk_id for h in store.search(query, k=2)]  # sentence-transformers (loaded to add)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "index"), str(embedder_path), query],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"ids": expected, "torch": False}
