"""Encryption at rest without models: keys, AES-GCM files, SQLCipher databases, FAISS files, the
feedback database, ``check_home`` and ``rekey`` over a whole RAGTUNE_HOME, and the CLI's errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from ragtune import crypto
from ragtune.crypto import DataKey, EncryptionError
from ragtune.crypto_home import check_home, rekey
from ragtune.settings import IndexSettings, Settings

pytestmark = pytest.mark.unit

KEY = "k" * 16 + "0123456789abcdef-first-key"
OTHER = "o" * 16 + "0123456789abcdef-other-key"
SECRET_TEXT = "Villa Ekudden roof membrane warranty 25 years"


def settings_for(home: Path, key: str | None = None) -> Settings:
    return Settings(home=home, encryption_key=SecretStr(key) if key else None)


def make_db(path: Path, key: DataKey | None) -> None:
    db = crypto.connect(path, key, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES (?)", (SECRET_TEXT,))
    db.close()


def read_db(path: Path, key: DataKey | None) -> list[str]:
    db = crypto.connect(path, key)
    try:
        return [r[0] for r in db.execute("SELECT text FROM notes")]
    finally:
        db.close()


# --- keys and files ----------------------------------------------------------------------------
def test_keys_are_derived_stable_and_never_shown() -> None:
    first, again, other = DataKey(KEY), DataKey(SecretStr(KEY)), DataKey(OTHER)
    assert first.file_key == again.file_key and first.key_id == again.key_id
    assert first.file_key != first.sqlcipher_key and first.file_key != other.file_key
    assert KEY not in repr(first) and first.file_key.hex() not in repr(first)
    with pytest.raises(EncryptionError, match="too short"):
        DataKey("short")
    assert len(crypto.new_secret()) >= crypto.MIN_SECRET_CHARS


def test_key_from_env_or_file_not_both(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert crypto.key_from(None, key_file).key_id == DataKey(KEY).key_id  # type: ignore[union-attr]
    assert crypto.key_from(SecretStr(KEY), None).key_id == DataKey(KEY).key_id  # type: ignore[union-attr]
    assert crypto.key_from(None, None) is None
    with pytest.raises(EncryptionError, match="set twice"):
        crypto.key_from(SecretStr(KEY), key_file)
    with pytest.raises(EncryptionError, match="cannot read"):
        crypto.key_from(None, tmp_path / "missing")


def test_settings_read_the_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_ENCRYPTION_KEY", KEY)
    settings = Settings(home=tmp_path)
    assert isinstance(settings.encryption_key, SecretStr) and KEY not in repr(settings)
    assert crypto.load_key(settings).key_id == DataKey(KEY).key_id  # type: ignore[union-attr]


def test_file_round_trip_and_clear_errors(tmp_path: Path) -> None:
    key = DataKey(KEY)
    path = crypto.write_bytes(tmp_path / "data.jsonl", SECRET_TEXT, key)
    blob = path.read_bytes()
    assert crypto.is_encrypted(blob) and SECRET_TEXT.encode() not in blob
    assert crypto.read_text(path, key) == SECRET_TEXT
    with pytest.raises(EncryptionError, match="no key is configured"):
        crypto.read_bytes(path, None)
    with pytest.raises(EncryptionError, match="another key"):
        crypto.read_bytes(path, DataKey(OTHER))
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    (tmp_path / "bad").write_bytes(bytes(tampered))
    with pytest.raises(EncryptionError, match="damaged"):
        crypto.read_bytes(tmp_path / "bad", key)
    plain = crypto.write_bytes(tmp_path / "plain.txt", "hello", None)
    assert plain.read_text() == "hello" and crypto.read_text(plain, key) == "hello"


# --- SQLite ------------------------------------------------------------------------------------
def test_encrypted_database_is_unreadable_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    make_db(path, DataKey(KEY))
    assert crypto.sqlite_state(path) == "encrypted"
    assert SECRET_TEXT.encode() not in path.read_bytes()
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master").fetchall()
    with pytest.raises(EncryptionError, match="no key is configured"):
        crypto.connect(path, None)
    with pytest.raises(EncryptionError, match="wrong key"):
        crypto.connect(path, DataKey(OTHER))
    assert read_db(path, DataKey(KEY)) == [SECRET_TEXT]


def test_plain_database_with_a_key_says_to_encrypt_it(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    make_db(path, None)
    assert read_db(path, None) == [SECRET_TEXT]  # no key: exactly as before
    with pytest.raises(EncryptionError, match="store rekey"):
        crypto.connect(path, DataKey(KEY))


def test_export_database_between_keys(tmp_path: Path) -> None:
    source, target, back = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "c.sqlite"
    make_db(source, None)
    crypto.export_database(source, None, target, DataKey(KEY))
    assert read_db(target, DataKey(KEY)) == [SECRET_TEXT]
    crypto.export_database(target, DataKey(KEY), back, None)
    assert crypto.sqlite_state(back) == "plain" and read_db(back, None) == [SECRET_TEXT]


# --- the stores that use it --------------------------------------------------------------------
def test_vectors_file_is_encrypted(tmp_path: Path) -> None:
    from indexer.vector_index import VectorIndex

    key = DataKey(KEY)
    vectors = VectorIndex(4, IndexSettings())
    vectors.add(np.array([7, 9]), np.eye(4, dtype=np.float32)[:2])
    path = tmp_path / "vectors" / "default.faiss"
    vectors.save(path, 3, "digest", key=key)
    assert crypto.is_encrypted(path.read_bytes()) and crypto.is_encrypted(path.with_suffix(".json").read_bytes())
    loaded = VectorIndex.load(path, 4, IndexSettings(), key=key)
    assert loaded is not None and sorted(loaded.ids().tolist()) == [7, 9] and loaded.saved_digest == "digest"
    with pytest.raises(EncryptionError):
        VectorIndex.load(path, 4, IndexSettings())
    assert VectorIndex.load(path, 4, IndexSettings(), key=DataKey(OTHER)) is None  # rebuilt from the catalog
    vectors.save(path, 3, "digest")
    assert VectorIndex.load(path, 4, IndexSettings(), key=key) is None  # a plain file is not trusted


def test_catalog_without_the_key_does_not_open(tmp_path: Path) -> None:
    from indexer.catalog import Catalog

    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path, key=DataKey(KEY))
    catalog.set_meta("embedder", SECRET_TEXT)
    catalog.close()
    assert SECRET_TEXT.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    with pytest.raises(EncryptionError, match="index catalog is encrypted"):
        Catalog(path)
    with pytest.raises(EncryptionError, match="wrong key"):
        Catalog(path, read_only=True, key=DataKey(OTHER))
    assert Catalog(path, read_only=True, key=DataKey(KEY)).get_meta("embedder") == SECRET_TEXT


def test_feedback_database_is_encrypted_whole(tmp_path: Path) -> None:
    from services.gateway.feedback import FeedbackStore

    path = tmp_path / "feedback.sqlite"
    store = FeedbackStore(path, key=DataKey(KEY))
    store._db.execute("CREATE TABLE ratings (comment TEXT)")  # a table another module adds later
    store._db.execute("INSERT INTO ratings VALUES (?)", (SECRET_TEXT,))
    store.close()
    assert crypto.sqlite_state(path) == "encrypted"
    with pytest.raises(EncryptionError):
        FeedbackStore(path)
    reopened = FeedbackStore(path, key=DataKey(KEY))
    assert reopened._db.execute("SELECT comment FROM ratings").fetchone()[0] == SECRET_TEXT
    reopened.close()


# --- a whole home -------------------------------------------------------------------------------
def populated_home(home: Path, key: DataKey | None) -> None:
    from indexer.vector_index import VectorIndex

    (home / "index").mkdir(parents=True)
    make_db(home / "index" / "catalog.sqlite3", key)
    make_db(home / "feedback.sqlite", key)
    vectors = VectorIndex(4, IndexSettings())
    vectors.add(np.array([1]), np.eye(4, dtype=np.float32)[:1])
    vectors.save(home / "index" / "vectors" / "default.faiss", 1, "d", key=key)
    if key is not None:
        crypto.write_bytes(home / "data" / "prepared.jsonl", SECRET_TEXT, key)


def test_check_home_names_what_does_not_open(tmp_path: Path) -> None:
    populated_home(tmp_path, DataKey(KEY))
    assert check_home(settings_for(tmp_path, KEY)) is not None
    with pytest.raises(EncryptionError, match="no key is configured"):
        check_home(settings_for(tmp_path))
    with pytest.raises(EncryptionError, match="wrong key"):
        check_home(settings_for(tmp_path, OTHER))


def test_rekey_rotates_everything(tmp_path: Path) -> None:
    populated_home(tmp_path, DataKey(KEY))
    report = rekey(settings_for(tmp_path, KEY), DataKey(OTHER))
    assert len(report.databases) == 2 and len(report.files) == 3
    assert read_db(tmp_path / "feedback.sqlite", DataKey(OTHER)) == [SECRET_TEXT]
    assert read_db(tmp_path / "index" / "catalog.sqlite3", DataKey(OTHER)) == [SECRET_TEXT]
    assert crypto.read_text(tmp_path / "data" / "prepared.jsonl", DataKey(OTHER)) == SECRET_TEXT
    with pytest.raises(EncryptionError, match="wrong key"):
        check_home(settings_for(tmp_path, KEY))  # the old key opens nothing any more
    with pytest.raises(EncryptionError, match="another key"):
        crypto.read_bytes(tmp_path / "data" / "prepared.jsonl", DataKey(KEY))
    assert check_home(settings_for(tmp_path, OTHER)) is not None
    assert not list(tmp_path.rglob("*.rekey-new"))


def test_rekey_encrypts_a_plain_home_and_decrypts_it_again(tmp_path: Path) -> None:
    from indexer.vector_index import VectorIndex

    populated_home(tmp_path, None)
    rekey(settings_for(tmp_path), DataKey(KEY))
    assert crypto.sqlite_state(tmp_path / "index" / "catalog.sqlite3") == "encrypted"
    faiss_file = tmp_path / "index" / "vectors" / "default.faiss"
    assert crypto.is_encrypted(faiss_file.read_bytes())
    assert VectorIndex.load(faiss_file, 4, IndexSettings(), key=DataKey(KEY)) is not None
    rekey(settings_for(tmp_path, KEY), None)
    assert check_home(settings_for(tmp_path)) is None
    assert read_db(tmp_path / "feedback.sqlite", None) == [SECRET_TEXT]


def test_an_interrupted_rekey_blocks_opening_until_finished(tmp_path: Path) -> None:
    populated_home(tmp_path, DataKey(KEY))
    staged = tmp_path / ".feedback.sqlite.rekey-new"
    crypto.export_database(tmp_path / "feedback.sqlite", DataKey(KEY), staged, DataKey(OTHER))
    swaps = {"swaps": [[str(staged), str(tmp_path / "feedback.sqlite")]]}
    (tmp_path / crypto.REKEY_JOURNAL).write_text(json.dumps(swaps))
    with pytest.raises(EncryptionError, match="interrupted"):
        check_home(settings_for(tmp_path, KEY))
    assert rekey(settings_for(tmp_path, KEY), DataKey(OTHER)).finished_interrupted
    assert read_db(tmp_path / "feedback.sqlite", DataKey(OTHER)) == [SECRET_TEXT]


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    import os

    populated_home(tmp_path, DataKey(KEY))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
    env["RAGTUNE_HOME"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "store", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr + run.stdout
    said = (run.stdout + run.stderr).strip()
    assert len(said.splitlines()) == 1 and "is encrypted" in said and "RAGTUNE_ENCRYPTION_KEY" in said
    env["RAGTUNE_ENCRYPTION_KEY"] = KEY
    ok = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "store", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_serve_refuses_to_start_without_the_key(tmp_path: Path) -> None:
    import os

    populated_home(tmp_path, DataKey(KEY))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
    env.update(RAGTUNE_HOME=str(tmp_path), RAGTUNE_ENGINE__KIND="local")
    run = subprocess.run(
        [sys.executable, "-m", "ragtune.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = (run.stdout + run.stderr).strip()
    assert run.returncode == 2 and "Traceback" not in said
    assert said.splitlines()[-1].startswith("error:") and "is encrypted" in said


def test_prepared_training_data_is_encrypted(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragtune.settings import get_settings
    from training.prep import prepare, write_prepared
    from training.readers import read_examples

    raw = home / "raw.jsonl"
    rows = [{"prompt": f"How long does roof {i} last?", "completion": f"{SECRET_TEXT}, roof {i}."} for i in range(6)]
    raw.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = home / "data" / "prepared.jsonl"
    write_prepared(prepare(raw, eval_fraction=0.0), out, DataKey(KEY))
    assert crypto.is_encrypted(out.read_bytes()) and b"Ekudden" not in out.read_bytes()
    with pytest.raises(EncryptionError, match="no key is configured"):
        read_examples(out)
    monkeypatch.setenv("RAGTUNE_ENCRYPTION_KEY", KEY)  # `ragtune train --data` reads it with the settings' key
    get_settings.cache_clear()
    examples, issues = read_examples(out)
    assert not issues and len(examples) == 6 and SECRET_TEXT in examples[0][1].messages[-1].content
