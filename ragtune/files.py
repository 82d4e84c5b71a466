"""Crash-safe writes: a file or folder is either the old one or the complete new one, never half.

``atomic_write`` (bytes or text into a file) and ``staged_dir`` (build a folder beside its target,
then swap it in) are the only temp-then-rename writers in the project; ``install_dir`` is the swap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_write(
    path: Path, data: bytes | str, *, mode: int = 0o644, fsync: bool = False, encoding: str = "utf-8"
) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and one rename.

    ``fsync`` flushes the file to disk before the rename and the folder after it (for data that
    must survive a power cut: without the folder's fsync the rename itself can be lost).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode(encoding) if isinstance(data, str) else data)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)
    return path


def install_dir(staging: Path, target: Path) -> None:
    """Move a finished ``staging`` folder to ``target``; an old ``target`` is replaced only once
    the new one is in place (moved aside, then removed)."""
    staging, target = Path(staging), Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_dir(target: Path, *, mode: int = 0o755) -> Iterator[Path]:
    """A fresh, empty folder beside ``target`` to build into; on a clean exit it becomes
    ``target`` (replacing an old one), on an error it is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        staging.chmod(mode)
        install_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
