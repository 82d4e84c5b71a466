"""Encryption at rest on a real store (MiniLM, FAISS, SQLCipher): ingest → search encrypted, the
catalog unreadable by ``sqlite3`` and closed without the key or with a wrong one, a plain store
encrypted by ``rekey`` and the key rotated, and the gateway refusing to start without the key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

from ragtune import crypto
from ragtune.crypto import DataKey, EncryptionError
from ragtune.crypto_home import rekey
from ragtune.index import open_store
from ragtune.settings import Settings

pytestmark = pytest.mark.integration

KEY = "first-key-for-the-encrypted-store-0123456789"
NEW = "second-key-after-rotation-of-the-store-98765"
ROOFS = "# Roofs\n\nConcrete roof tiles at Villa Ekudden last about fifty years when the underlay is kept dry.\n"
WINDOWS = "# Windows\n\nTriple glazing lowers heat loss through the windows by half.\n"


def settings_for(home: Path, key: str | None) -> Settings:
    return Settings(home=home, encryption_key=SecretStr(key) if key else None)


def add_docs(home: Path, key: str | None) -> None:
    docs = home.parent / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "roofs.md").write_text(ROOFS)
    (docs / "windows.md").write_text(WINDOWS)
    with open_store(settings_for(home, key)) as store:
        report = store.add_paths([docs])
        assert report.added == 2


def top_hit(home: Path, key: str | None) -> str:
    with open_store(settings_for(home, key), read_only=True) as store:
        return store.search("how long do roof tiles last", k=1)[0].text


def test_encrypted_ingest_and_search(home_with_models: Path) -> None:
    home = home_with_models
    add_docs(home, KEY)
    assert "fifty years" in top_hit(home, KEY)
    catalog = home / "index" / "catalog.sqlite3"
    assert crypto.sqlite_state(catalog) == "encrypted"
    on_disk = b"".join(p.read_bytes() for p in (home / "index").rglob("*") if p.is_file())
    assert b"Ekudden" not in on_disk and b"fifty" not in on_disk  # catalog, WAL and FAISS files alike
    assert all(crypto.is_encrypted(p.read_bytes()) for p in (home / "index" / "vectors").iterdir())
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(catalog).execute("SELECT text FROM chunks").fetchall()
    with pytest.raises(EncryptionError, match="no key is configured"):
        open_store(settings_for(home, None))
    with pytest.raises(EncryptionError, match="wrong key"):
        open_store(settings_for(home, NEW))


def test_rekey_encrypts_a_plain_store_then_rotates_the_key(home_with_models: Path) -> None:
    home = home_with_models
    add_docs(home, None)
    assert "fifty years" in top_hit(home, None)
    rekey(settings_for(home, None), DataKey(KEY))
    with pytest.raises(EncryptionError, match="no key is configured"):
        top_hit(home, None)
    assert "fifty years" in top_hit(home, KEY)
    rekey(settings_for(home, KEY), DataKey(NEW))
    with pytest.raises(EncryptionError, match="wrong key"):
        top_hit(home, KEY)
    assert "fifty years" in top_hit(home, NEW)
    with open_store(settings_for(home, NEW)) as store:  # still writable under the new key
        store.remove([store.list_documents()[0].doc_id])
        assert len(store.list_documents()) == 1


def test_gateway_refuses_to_start_without_the_key(home_with_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.gateway.server import BackgroundGateway
    from tests.fakes import FakeEngine

    add_docs(home_with_models, KEY)
    monkeypatch.setattr("services.engines.factory.create_engine", lambda settings: FakeEngine())
    with pytest.raises(RuntimeError, match="failed to start"):
        BackgroundGateway(settings_for(home_with_models, None), start_timeout_s=120).start()
    with BackgroundGateway(settings_for(home_with_models, KEY), start_timeout_s=300) as gateway:
        import httpx

        found = httpx.get(gateway.url + "/v1/search", params={"q": "roof tiles", "k": 1}, timeout=60).json()
        assert "fifty years" in found["results"][0]["text"]
    assert crypto.sqlite_state(home_with_models / "feedback.sqlite") == "encrypted"
