"""Encryption at rest over a whole ``RAGTUNE_HOME``: check that the key opens everything, and
rotate it (``ragtune store rekey``).

What is covered: every SQLite database under the home (``*.sqlite``, ``*.sqlite3``, ``*.db``: the
document catalog, the feedback and request log and any table or database added beside them) and
every file encrypted by ``ragtune.crypto`` (FAISS files, prepared training data kept under the
home), plus the FAISS files of the index when a plain store is encrypted the first time. The
model cache (``models/``) is never touched.

A rekey writes every file anew under the new key beside the old one first, then records the
swaps in ``RAGTUNE_HOME/.rekey.json`` and renames them in; killed half-way, the journal is
finished by the next ``ragtune store rekey`` (and nothing opens until then).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from ragtune import crypto
from ragtune.crypto import DataKey, EncryptionError
from ragtune.files import atomic_write, fsync_dir
from ragtune.settings import Settings

DATABASE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SKIPPED_FOLDERS = ("models",)
STAGED_SUFFIX = ".rekey-new"


class RekeyReport(BaseModel):
    """What ``rekey`` re-encrypted."""

    databases: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    finished_interrupted: bool = False
    """True when an interrupted rekey was finished instead (its new key is now the one in force)."""
    encrypted: bool = True
    """False when the store was decrypted (``--decrypt``)."""


def _walk(home: Path) -> Iterator[Path]:
    if not home.is_dir():
        return
    for entry in sorted(home.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            if entry.parent == home and entry.name in SKIPPED_FOLDERS:
                continue
            yield from _walk(entry)
        elif entry.is_file() and not entry.name.endswith(STAGED_SUFFIX):
            yield entry


def databases(home: Path) -> list[Path]:
    """Every SQLite database under ``home`` (not its WAL / SHM companions, not ``models/``)."""
    return [p for p in _walk(home) if p.suffix in DATABASE_SUFFIXES and crypto.sqlite_state(p) != "missing"]


def _starts_encrypted(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return crypto.is_encrypted(handle.read(len(crypto.MAGIC)))
    except OSError:
        return False


def encrypted_files(home: Path) -> list[Path]:
    """Every file under ``home`` that ``ragtune.crypto`` encrypted."""
    return [p for p in _walk(home) if p.suffix not in DATABASE_SUFFIXES and _starts_encrypted(p)]


def index_files(settings: Settings) -> list[Path]:
    """The FAISS files of the index and their sidecars (encrypted when a key is set)."""
    folder = settings.index_dir / "vectors"
    return sorted(p for p in folder.glob("*") if p.suffix in (".faiss", ".json")) if folder.is_dir() else []


def check_home(settings: Settings) -> DataKey | None:
    """The configured key, once every database under the home opened with it (or, without a key,
    none of them is encrypted). Raises ``EncryptionError`` saying which one and why."""
    key = crypto.load_key(settings)
    for path in databases(settings.home):
        crypto.connect(path, key, read_only=True).close()
    if key is None:
        encrypted = [p for p in index_files(settings) if _starts_encrypted(p)]
        if encrypted:
            crypto.decrypt(encrypted[0].read_bytes(), None, what=str(encrypted[0]))
    return key


def _staged(path: Path) -> Path:
    return path.with_name(f".{path.name}{STAGED_SUFFIX}")


def _finish(journal: Path) -> None:
    """Rename every staged file of ``journal`` into place, then remove the journal."""
    record = json.loads(journal.read_text(encoding="utf-8"))
    folders: set[Path] = set()
    for staged, final in record["swaps"]:
        staged_path, final_path = Path(staged), Path(final)
        if staged_path.exists():
            if final_path.suffix in DATABASE_SUFFIXES:
                for companion in ("-wal", "-shm", "-journal"):
                    Path(f"{final_path}{companion}").unlink(missing_ok=True)
            os.replace(staged_path, final_path)
            folders.add(final_path.parent)
    for folder in folders:
        fsync_dir(folder)
    journal.unlink()
    fsync_dir(journal.parent)


def rekey(settings: Settings, new: DataKey | None, extra: list[Path] | None = None) -> RekeyReport:
    """Re-encrypt everything under the home from the configured key (None: a plain store being
    encrypted) to ``new`` (None: decrypt), plus the ``extra`` files (e.g. prepared training data
    kept elsewhere). Stop the gateway and other writers first."""
    home = settings.home
    journal = home / crypto.REKEY_JOURNAL
    if journal.is_file():
        _finish(journal)
        return RekeyReport(finished_interrupted=True)
    old = crypto.key_from(settings.encryption_key, settings.encryption_key_file)
    if old is None and new is None:
        raise EncryptionError(f"no key is configured and no new key given: nothing to do ({crypto.HOW_TO_SET})")
    from filelock import FileLock, Timeout

    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.index_dir / ".writer.lock"))
    try:
        lock.acquire(timeout=5)
    except Timeout:
        raise EncryptionError("another process is writing the index: stop it (and the gateway) first") from None
    report = RekeyReport(encrypted=new is not None)
    swaps: list[tuple[Path, Path]] = []
    try:
        for path in databases(home):
            crypto.connect(path, old, read_only=True).close()  # the old key opens it, or a clear error
            crypto.export_database(path, old, _staged(path), new)
            swaps.append((_staged(path), path))
            report.databases.append(str(path))
        files = dict.fromkeys([*encrypted_files(home), *index_files(settings), *(Path(p) for p in extra or [])])
        for path in files:
            if not path.is_file():
                raise EncryptionError(f"{path}: no such file")
            plain = crypto.read_bytes(path, old)
            crypto.write_bytes(_staged(path), plain, new, fsync=True)
            swaps.append((_staged(path), path))
            report.files.append(str(path))
        atomic_write(journal, json.dumps({"swaps": [[str(a), str(b)] for a, b in swaps]}), fsync=True)
        _finish(journal)
    except BaseException:
        if not journal.is_file():
            for staged, _final in swaps:
                staged.unlink(missing_ok=True)
        raise
    finally:
        lock.release()
    for path in databases(home):
        crypto.connect(path, new, read_only=True).close()
    return report
