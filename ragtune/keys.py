"""The API keys file (``RAGTUNE_HOME/keys.json``) and the key ring the gateway authenticates with.

``ragtune keys create`` adds a key: it is printed once and only its hash, public prefix and tenant
settings are stored (mode 0600, written atomically). ``keys revoke PREFIX`` removes it. The
gateway's ``KeyRing`` joins these keys with the hashed keys of the settings and reads the file
again whenever it changes, so a revoked key stops working without a restart.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.files import atomic_write
from ragtune.key_hash import PREFIX_RE, hash_key, new_key
from ragtune.settings import Settings, TenantSettings

KEYS_FILE_MODE = 0o600


class KeyRecord(BaseModel):
    """One stored key: never the key itself."""

    prefix: str
    """The key's public part (``rt_ab12cd34``): names it in listings and the audit log."""
    hash: str
    """``sha256:<hex>`` of the whole key."""
    tenant: TenantSettings
    created: datetime


class KeysDocument(BaseModel):
    """The keys file's content."""

    keys: list[KeyRecord] = Field(default_factory=list)


class KeyFile:
    """Create, list and revoke the keys stored at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> list[KeyRecord]:
        """The stored keys (none when the file does not exist); a damaged file is an error."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RagtuneError(f"cannot read the API keys file {self.path}: {exc.strerror}") from None
        try:
            return KeysDocument.model_validate_json(raw).keys
        except ValidationError as exc:
            raise RagtuneError(f"the API keys file {self.path} is damaged ({exc.error_count()} error(s))") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (two ``keys create`` at once must not lose a key)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT, KEYS_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, keys: list[KeyRecord]) -> None:
        atomic_write(
            self.path, KeysDocument(keys=keys).model_dump_json(indent=2) + "\n", mode=KEYS_FILE_MODE, fsync=True
        )

    def create(self, tenant: TenantSettings) -> tuple[SecretStr, KeyRecord]:
        """A new key for ``tenant``: the key (to show once) and its stored record."""
        with self._locked():
            keys = self.read()
            taken = {record.prefix for record in keys}
            key, prefix = new_key()
            while prefix in taken:  # 1 in 4 billion per existing key
                key, prefix = new_key()
            record = KeyRecord(prefix=prefix, hash=hash_key(key), tenant=tenant, created=datetime.now(UTC))
            self._write([*keys, record])
        return key, record

    def revoke(self, prefix: str) -> KeyRecord:
        """Remove the key with public prefix ``prefix`` (NotFoundError when there is none)."""
        if not PREFIX_RE.fullmatch(prefix):
            raise RagtuneError(f"{prefix!r} is not a key prefix (like rt_ab12cd34; see `ragtune keys list`)")
        with self._locked():
            keys = self.read()
            match = [record for record in keys if record.prefix == prefix]
            if not match:
                raise NotFoundError(f"no API key with prefix {prefix} (see `ragtune keys list`)")
            self._write([record for record in keys if record.prefix != prefix])
        return match[0]


class KeyRing:
    """Every key the gateway accepts: the settings' hashed keys and the keys file, re-read when the
    file changes (checked at most once per ``recheck_s``)."""

    def __init__(
        self, configured: Mapping[str, TenantSettings], keys_file: Path | None, *, recheck_s: float = 1.0
    ) -> None:
        self._configured = dict(configured)
        self._file = KeyFile(keys_file) if keys_file is not None else None
        self._recheck_s = recheck_s
        self._signature: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._from_file: dict[str, tuple[str, TenantSettings]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> KeyRing:
        """The keys of ``settings.gateway.api_keys`` and of ``settings.keys_file``."""
        return cls(settings.gateway.api_keys, settings.keys_file)

    def _refresh(self) -> None:
        if self._file is None:
            return
        now = time.monotonic()
        if self._signature is not None and now - self._checked < self._recheck_s:
            return
        with self._lock:
            self._checked = now
            try:
                stat = self._file.path.stat()
                signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            except FileNotFoundError:
                signature = (0, 0, 0)
            if signature == self._signature:
                return
            try:
                records = self._file.read()
            except RagtuneError:
                records = []  # a damaged file grants nothing (fail closed)
            self._from_file = {r.hash: (r.prefix, r.tenant) for r in records}
            self._signature = signature

    def lookup(self, key: str | SecretStr) -> tuple[TenantSettings, str | None] | None:
        """The tenant of ``key`` and the key's public prefix (None for settings keys), or None."""
        self._refresh()
        digest = hash_key(key)
        if digest in self._from_file:
            prefix, filed = self._from_file[digest]
            return filed, prefix
        configured = self._configured.get(digest)
        return (configured, None) if configured is not None else None

    def any(self) -> bool:
        """True when at least one key exists (then every request needs one)."""
        self._refresh()
        return bool(self._configured or self._from_file)
