"""The one rule for user-chosen names: adapters, namespaces, served models.

1-64 characters: letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit (so a
name is also a safe folder name: no separators, never hidden). An adapter may be named with a
version, ``NAME@v2`` (``REF_PATTERN``); the ``@`` never reaches a folder name.
"""

from __future__ import annotations

import re

from ragtune.errors import RagtuneError

NAME_MAX = 64
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}$"
"""The name rule as a regular expression (pydantic ``Field(pattern=...)`` takes it as is)."""
NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = f"1-{NAME_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit"
VERSION_PATTERN = r"v?[1-9][0-9]{0,5}"
"""An adapter version: ``v2`` (or ``2``)."""
REF_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}(@{VERSION_PATTERN})?$"
"""A name, optionally pinned to one version: ``zaragoza-voice`` or ``zaragoza-voice@v2`` (adapters,
see ``training.versions``)."""
REF_RE = re.compile(REF_PATTERN)


def is_valid_name(name: str | None) -> bool:
    """True when ``name`` follows the name rule."""
    return bool(name) and NAME_RE.fullmatch(name or "") is not None


def is_valid_ref(ref: str | None) -> bool:
    """True for a valid name or ``NAME@VERSION``."""
    return bool(ref) and REF_RE.fullmatch(ref or "") is not None


def check_name(name: str, what: str = "name", error: type[RagtuneError] = RagtuneError) -> str:
    """``name`` if it follows the rule, else ``error`` saying so (``what``: 'adapter name', …)."""
    if not isinstance(name, str) or not is_valid_name(name):
        raise error(f"invalid {what} {name!r}: use {NAME_RULE}")
    return name
