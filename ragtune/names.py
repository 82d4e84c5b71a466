"""The one rule for user-chosen names: adapters, namespaces, served models.

1-64 characters: letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit (so a
name is also a safe folder name: no separators, never hidden).
"""

from __future__ import annotations

import re

from ragtune.errors import RagtuneError

NAME_MAX = 64
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}$"
"""The name rule as a regular expression (pydantic ``Field(pattern=...)`` takes it as is)."""
NAME_RE = re.compile(NAME_PATTERN)
NAME_RULE = f"1-{NAME_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_valid_name(name: str | None) -> bool:
    """True when ``name`` follows the name rule."""
    return bool(name) and NAME_RE.fullmatch(name or "") is not None


def check_name(name: str, what: str = "name", error: type[RagtuneError] = RagtuneError) -> str:
    """``name`` if it follows the rule, else ``error`` saying so (``what``: 'adapter name', …)."""
    if not isinstance(name, str) or not is_valid_name(name):
        raise error(f"invalid {what} {name!r}: use {NAME_RULE}")
    return name
