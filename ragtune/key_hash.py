"""API key primitives: new keys, their public prefix and the hash that is stored instead of them.

A key looks like ``rt_ab12cd34_<43 random characters>``. Its first part (``rt_ab12cd34``) is its
public prefix: printed by ``ragtune keys list`` and written to the audit log so a key can be named
without being shown. Only ``sha256:<hex>`` of the whole key is ever stored; the key has 256 random
bits, so a plain SHA-256 (no slow password hash) is enough to make the stored form useless to a
reader of the keys file or the settings.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from pydantic import SecretStr

KEY_SCHEME = "rt"
HASH_PREFIX = "sha256:"
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
PREFIX_RE = re.compile(r"^rt_[0-9a-f]{8}$")
_KEY_RE = re.compile(r"^(rt_[0-9a-f]{8})_[A-Za-z0-9_-]{20,}$")


def _plain(key: str | SecretStr) -> str:
    return key.get_secret_value() if isinstance(key, SecretStr) else key


def hash_key(key: str | SecretStr) -> str:
    """``sha256:<hex>`` of ``key`` (what the settings and the keys file hold)."""
    return HASH_PREFIX + hashlib.sha256(_plain(key).encode()).hexdigest()


def is_key_hash(value: str) -> bool:
    """True when ``value`` is a stored key hash (``sha256:`` and 64 lowercase hex digits)."""
    return HASH_RE.fullmatch(value) is not None


def key_prefix(key: str | SecretStr) -> str | None:
    """The public prefix (``rt_ab12cd34``) of a key made by ``new_key``; None for other keys."""
    match = _KEY_RE.fullmatch(_plain(key))
    return match.group(1) if match else None


def new_key() -> tuple[SecretStr, str]:
    """A fresh random key and its public prefix."""
    prefix = f"{KEY_SCHEME}_{secrets.token_hex(4)}"
    return SecretStr(f"{prefix}_{secrets.token_urlsafe(32)}"), prefix
