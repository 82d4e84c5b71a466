"""Encryption at rest: the key, AES-GCM for files, SQLCipher for SQLite databases.

One secret (``RAGTUNE_ENCRYPTION_KEY``, or the file named by ``RAGTUNE_ENCRYPTION_KEY_FILE``) is
stretched with HKDF-SHA256 into two independent 256-bit keys: one for SQLCipher (the document
catalog, the feedback and request log, every SQLite database of ``RAGTUNE_HOME``), one for AES-GCM
(FAISS files, prepared training data). Without a key nothing here encrypts, and stores work as
they always did.

An encrypted file is ``b"RTENC" + version + key id (8 bytes) + nonce (12 bytes) + ciphertext``;
the header is authenticated with the data, and the key id tells a wrong key from a damaged file.
An SQLCipher database starts with random bytes where a plain SQLite file says ``SQLite format 3``,
which is how a missing or unneeded key is told apart from a wrong one. Every failure is an
``EncryptionError`` whose one-line message says what to set.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ragtune.errors import RagtuneError
from ragtune.files import atomic_write

if TYPE_CHECKING:
    from ragtune.settings import Settings

MAGIC = b"RTENC"
VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_BYTES
SQLITE_HEADER = b"SQLite format 3\x00"
MIN_SECRET_CHARS = 32
KEY_ENV = "RAGTUNE_ENCRYPTION_KEY"
KEY_FILE_ENV = "RAGTUNE_ENCRYPTION_KEY_FILE"
REKEY_JOURNAL = ".rekey.json"
"""Written in ``RAGTUNE_HOME`` while ``ragtune store rekey`` swaps files in; its presence means
an interrupted rekey, which ``ragtune store rekey`` finishes."""
HOW_TO_SET = f"set {KEY_ENV} or {KEY_FILE_ENV} (settings: encryption_key / encryption_key_file)"


class EncryptionError(RagtuneError):
    """A key is missing, wrong or unusable; the message says which and what to do."""

    status_code = 500


def _hkdf(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ragtune encryption at rest", info=info).derive(secret)


class DataKey:
    """The keys derived from one secret. ``repr`` never shows key material."""

    def __init__(self, secret: str | SecretStr) -> None:
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        raw = raw.strip()
        if len(raw) < MIN_SECRET_CHARS:
            raise EncryptionError(
                f"the encryption key is too short ({len(raw)} characters, at least {MIN_SECRET_CHARS}); "
                "make one with `ragtune store keygen`"
            )
        material = raw.encode("utf-8")
        self.file_key = _hkdf(material, b"ragtune files v1")
        self.sqlcipher_key = _hkdf(material, b"ragtune sqlcipher v1")
        self.key_id = _hkdf(material, b"ragtune key id v1")[:KEY_ID_BYTES]

    def __repr__(self) -> str:
        return f"DataKey(id={self.key_id.hex()})"

    @property
    def sqlcipher_pragma(self) -> str:
        """The raw-key form of ``PRAGMA key`` (no PBKDF2 at every open: the secret is already random)."""
        return f"\"x'{self.sqlcipher_key.hex()}'\""


def new_secret() -> str:
    """A fresh random secret (256 bits, URL-safe base64) for ``RAGTUNE_ENCRYPTION_KEY``."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def key_from(secret: SecretStr | None, key_file: Path | None, *, what: str = "the encryption key") -> DataKey | None:
    """The key from a secret or a key file (not both); None when neither is set."""
    if secret is not None and key_file is not None:
        raise EncryptionError(f"{what} is set twice (a key and a key file): set only one")
    if key_file is not None:
        try:
            text = Path(key_file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise EncryptionError(f"cannot read {what} file {key_file}: {exc.strerror or exc}") from None
        return DataKey(text)
    if secret is not None and secret.get_secret_value().strip():
        return DataKey(secret)
    return None


def load_key(settings: Settings) -> DataKey | None:
    """The configured key (None: no encryption). Refuses while an interrupted rekey is pending."""
    if (settings.home / REKEY_JOURNAL).is_file():
        raise EncryptionError(f"a `ragtune store rekey` in {settings.home} was interrupted: run it again to finish it")
    return key_from(settings.encryption_key, settings.encryption_key_file)


# --- files ---------------------------------------------------------------------------------
def is_encrypted(data: bytes) -> bool:
    """True when ``data`` is an encrypted file of this module."""
    return data[: len(MAGIC)] == MAGIC


def encrypt(data: bytes, key: DataKey) -> bytes:
    """``data`` sealed with AES-256-GCM under ``key`` (header + nonce + ciphertext and tag)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    header = MAGIC + bytes([VERSION]) + key.key_id
    return header + nonce + AESGCM(key.file_key).encrypt(nonce, data, header)


def decrypt(blob: bytes, key: DataKey | None, *, what: str = "the file") -> bytes:
    """The plain bytes of ``blob``: decrypted when it is encrypted, as they are when not."""
    if not is_encrypted(blob):
        return blob
    if key is None:
        raise EncryptionError(f"{what} is encrypted and no key is configured: {HOW_TO_SET}")
    if len(blob) < HEADER_BYTES + 16 or blob[len(MAGIC)] != VERSION:
        raise EncryptionError(f"{what} is damaged or from a newer ragtune (encryption format not understood)")
    header = blob[: len(MAGIC) + 1 + KEY_ID_BYTES]
    if header[len(MAGIC) + 1 :] != key.key_id:
        raise EncryptionError(f"{what} was encrypted with another key than the configured one (wrong key?)")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = blob[len(header) : HEADER_BYTES]
    try:
        return AESGCM(key.file_key).decrypt(nonce, blob[HEADER_BYTES:], header)
    except InvalidTag:
        raise EncryptionError(f"{what} is damaged: its authentication tag does not match") from None


def read_bytes(path: Path, key: DataKey | None) -> bytes:
    """A file's plain bytes (decrypted when it is encrypted)."""
    path = Path(path)
    return decrypt(path.read_bytes(), key, what=str(path))


def read_text(path: Path, key: DataKey | None = None, *, errors: str = "strict") -> str:
    """A file's text (UTF-8), decrypted when needed; an encrypted file without ``key`` uses the
    key of the process settings (``ragtune.settings.get_settings``)."""
    blob = Path(path).read_bytes()
    if is_encrypted(blob) and key is None:
        from ragtune.settings import get_settings

        key = load_key(get_settings())
    return decrypt(blob, key, what=str(path)).decode("utf-8", errors=errors)


def write_bytes(path: Path, data: bytes | str, key: DataKey | None, *, fsync: bool = False) -> Path:
    """``atomic_write`` of ``data``, encrypted when a key is given."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_write(path, encrypt(raw, key) if key is not None else raw, fsync=fsync)


# --- SQLite / SQLCipher --------------------------------------------------------------------
def _sqlcipher() -> Any:
    try:
        import sqlcipher3
    except ImportError:
        raise EncryptionError("encrypted databases need the sqlcipher3 package (pip install sqlcipher3)") from None
    return sqlcipher3


def database_errors() -> tuple[type[Exception], ...]:
    """The DatabaseError classes of sqlite3 and (when installed) sqlcipher3."""
    try:
        import sqlcipher3
    except ImportError:
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, sqlcipher3.DatabaseError)


def sqlite_state(path: Path) -> str:
    """``missing`` (no file or empty), ``plain`` (SQLite header) or ``encrypted`` (anything else)."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return "missing"
    if not head:
        return "missing"
    return "plain" if head == SQLITE_HEADER else "encrypted"


def connect(
    path: Path, key: DataKey | None, *, read_only: bool = False, what: str | None = None, **kwargs: Any
) -> sqlite3.Connection:
    """An SQLite connection to ``path``: plain ``sqlite3`` without a key, SQLCipher with one.

    A plain database with a key, an encrypted one without, or a wrong key raise EncryptionError.
    ``kwargs`` go to ``connect`` (``check_same_thread``, ``isolation_level``).
    """
    path = Path(path)
    what = what or str(path)
    state = sqlite_state(path)
    if key is None:
        if state == "encrypted":
            raise EncryptionError(
                f"{what} is encrypted (or not an SQLite database) and no key is configured: {HOW_TO_SET}"
            )
        if read_only:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, **kwargs)
        return sqlite3.connect(path, **kwargs)
    if state == "plain":
        raise EncryptionError(
            f"{what} is not encrypted but an encryption key is configured: encrypt it with "
            "`ragtune store rekey`, or unset the key"
        )
    sqlcipher = _sqlcipher()
    target = f"file:{path}?mode=ro" if read_only else str(path)
    db = sqlcipher.connect(target, uri=read_only, **kwargs)
    try:
        db.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our one-line error, not log noise
        db.execute(f"PRAGMA key = {key.sqlcipher_pragma}")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher.DatabaseError:
        db.close()
        raise EncryptionError(f"{what} cannot be decrypted with the configured key (wrong key?)") from None
    return db  # type: ignore[no-any-return]


def export_database(source: Path, old: DataKey | None, target: Path, new: DataKey | None) -> None:
    """Copy the database ``source`` (readable with ``old``) to a fresh ``target`` under ``new``
    (SQLCipher's ``sqlcipher_export``: schema, rows, indexes and ``user_version``)."""
    sqlcipher = _sqlcipher()
    Path(target).unlink(missing_ok=True)
    db = (
        connect(source, old, isolation_level=None)
        if old is not None
        else sqlcipher.connect(str(source), isolation_level=None)
    )
    try:
        if old is None and sqlite_state(source) == "encrypted":
            raise EncryptionError(f"{source} is encrypted and no key is configured: {HOW_TO_SET}")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        new_key = new.sqlcipher_pragma if new is not None else "''"
        db.execute(f"ATTACH DATABASE ? AS rekeyed KEY {new_key}", (str(target),))
        db.execute("SELECT sqlcipher_export('rekeyed')")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA rekeyed.user_version = {int(version)}")
        db.execute("DETACH DATABASE rekeyed")
    finally:
        db.close()
