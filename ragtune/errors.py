"""User-facing errors: the CLI prints their message as one line, the gateway maps them to 4xx."""

from __future__ import annotations


class RagtuneError(Exception):
    """An error the user can fix; ``str(err)`` says what went wrong and how to fix it."""

    status_code: int = 400


class NotFoundError(RagtuneError):
    status_code = 404


class ConflictError(RagtuneError):
    status_code = 409
