"""``open_store(settings)``: the one way every entry point (the ``ragtune index`` CLI and so the
deploy scripts, the gateway, the demo) opens the document index of ``RAGTUNE_HOME/index``.

It resolves the configured embedder and, when ``models.reranker`` (or ``index.reranker_path``) is
set, the cross-encoder that re-ranks hits, so every entry point searches the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune import models as model_store
from ragtune.crypto import load_key
from ragtune.settings import Settings

if TYPE_CHECKING:
    from indexer.store import DocumentStore


def open_store(settings: Settings, *, read_only: bool = False) -> DocumentStore:
    """The document store in ``settings.index_dir`` (read-only when asked or configured).

    Raises ``ModelNotFoundError`` when a configured model is missing, an ``IndexerError`` when
    the index cannot be opened and ``ragtune.crypto.EncryptionError`` when its encryption key
    (``RAGTUNE_ENCRYPTION_KEY``) is missing or wrong.
    """
    from indexer.store import DocumentStore

    key = load_key(settings)

    embedder = model_store.resolve(settings.models.embedder, settings.models_dir)
    reranker = model_store.resolve(settings.models.reranker, settings.models_dir) if settings.models.reranker else None
    return DocumentStore.open(
        settings.index_dir,
        embedder,
        settings.index,
        read_only=read_only or settings.index.read_only,
        reranker_path=reranker,
        key=key,
    )
