"""Writes never stall reads: the gateway's index access runs uploads in a writer thread of their own.

Real MiniLM, FAISS and SQLite, no engine: searches go on answering (from the last committed
documents) while a document of over a thousand chunks is embedded and stored, and a gateway
upload and a CLI ``ragtune index add`` running at the same time both land.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from indexer import DocumentStore
from ragtune.settings import IndexSettings
from services.gateway.state import IndexAccess

pytestmark = pytest.mark.integration
SEED_DOC = b"# Heat pumps\n\nA ground-source heat pump needs a borehole about 150 metres deep."


def big_document(chunks: int, seed: int = 3) -> bytes:
    """Plain text of ``chunks`` paragraphs of distinct random words (no two near-duplicates)."""
    rng = random.Random(seed)
    vocabulary = [f"term{i}" for i in range(5000)]
    paragraphs = [" ".join(rng.choice(vocabulary) for _ in range(24)) for _ in range(chunks)]
    return "\n\n".join(paragraphs).encode()


@pytest.fixture()
def store(tmp_path: Path, embedder_path: Path):
    config = IndexSettings(chunk_tokens=48, chunk_overlap=0)
    with DocumentStore.open(tmp_path / "index", embedder_path, config) as opened:
        opened.add_bytes("heat-pumps.md", SEED_DOC)
        yield opened


def test_searches_answer_while_a_large_document_uploads(store: DocumentStore) -> None:
    async def scenario() -> tuple[list[int], int, int]:
        access = IndexAccess(store, None, store.config)
        try:
            upload = asyncio.create_task(access.write(store.add_bytes, "handbook.txt", big_document(1200)))
            hits_during: list[int] = []
            while not upload.done():
                hits = await access.search("how deep is the borehole", k=2, namespace="default")
                if not upload.done():
                    hits_during.append(sum(h.source == "heat-pumps.md" for h in hits))
            report = await upload
            after = await access.search("term17 term4242", k=3, namespace="default")
            return hits_during, report.documents[0].chunks, sum(h.source == "handbook.txt" for h in after)
        finally:
            access.close()

    hits_during, chunks, found_after = asyncio.run(scenario())
    assert chunks >= 1000
    assert len(hits_during) >= 3  # searches went on while the upload ran
    assert all(n == 1 for n in hits_during)  # each from the committed documents
    assert found_after >= 1  # and the upload is searchable once committed


def test_gateway_upload_and_cli_add_both_land(store: DocumentStore, tmp_path: Path, models_dir: Path) -> None:
    home = tmp_path
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    cli_file = tmp_path / "cli-notes.txt"
    cli_file.write_bytes(big_document(150, seed=5))
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "RAGTUNE_INDEX__CHUNK_TOKENS": "48",
        "RAGTUNE_INDEX__CHUNK_OVERLAP": "0",
    }

    async def scenario() -> None:
        access = IndexAccess(store, None, store.config)
        try:
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ragtune.cli",
                "index",
                "add",
                str(cli_file),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            gateway = access.write(store.add_bytes, "gateway-notes.txt", big_document(150, seed=9))
            (output, _), _report = await asyncio.gather(cli.communicate(), gateway)
            assert cli.returncode == 0, output.decode()[-2000:]
        finally:
            access.close()

    asyncio.run(scenario())
    with DocumentStore.open(home / "index", store.embedder.model_path, store.config) as reopened:
        sources = {d.source for d in reopened.list_documents("default")}
        assert {"heat-pumps.md", "gateway-notes.txt", str(cli_file.resolve())} <= sources or {
            "heat-pumps.md",
            "gateway-notes.txt",
            "cli-notes.txt",
        } <= sources, sources
        assert reopened.search("term17", k=20, namespace="default")
