"""The adapters a gateway serves: the engine's loaded adapters plus their training cards.

The engine is the single source of truth for what is loaded; this module adds run-time
register/unload with path checks and reads each adapter's card (``training.adapter_folder``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.names import is_valid_ref
from services.engines.audit_gate import check_audit
from services.engines.base import AdapterExistsError, Engine
from services.gateway.errors import ForbiddenError
from services.gateway.schemas import AdapterView
from services.modes import Mode
from training import adapter_folder as folders
from training import versions

log = logging.getLogger("ragtune.gateway")


def read_adapter_card(path: Path) -> dict[str, Any] | None:
    """The training card of the adapter at ``path`` as JSON data, or None when it has none."""
    card = folders.find_card(path)
    return card.model_dump(mode="json") if card is not None else None


def adapter_folder(path: Path) -> Path:
    """The peft folder at ``path`` (the folder itself or its ``adapter/`` sub-folder), or the model
    folder of a full fine-tune."""
    folder = folders.find(path)
    if folder is None:
        raise NotFoundError(folders.not_an_adapter(path))
    return folder


class AdapterRegistry:
    """Register, unload and describe the engine's adapters."""

    def __init__(
        self, engine: Engine, adapters_dir: Path, *, confine_paths: bool, allow_failed_audit: bool = False
    ) -> None:
        self.engine = engine
        self.adapters_dir = adapters_dir
        self.confine_paths = confine_paths
        """When True (API keys configured) adapters may only be registered from adapters_dir."""
        self.allow_failed_audit = allow_failed_audit
        """Serve adapters whose memorization audit failed (``audit.allow_failed``)."""
        self._cards: dict[str, dict[str, Any] | None] = {}
        self._discovering = asyncio.Lock()
        self._unloaded: set[str] = set()
        """Names unloaded through the API: not looked up in adapters_dir again until registered."""
        self._pointers: dict[str, tuple[tuple[int, int] | None, str, Path]] = {}
        """Adapter name -> (versions.json stamp, engine key, folder) of its promoted version."""

    def names(self) -> list[str]:
        return sorted(info.name for info in self.engine.adapters())

    def has(self, name: str) -> bool:
        return any(info.name == name for info in self.engine.adapters())

    async def find(self, name: str) -> bool:
        """True when adapter ``name`` (or ``NAME@VERSION``) can be served; see ``resolve``."""
        return await self.resolve(name) is not None

    def _versioned(self, name: str, version: str | None) -> tuple[str, Path] | None:
        """(engine key, folder) of ``name``'s version (its promoted one when None) when the adapter has
        versions in ``adapters_dir`` (``training.versions``); None for a flat adapter without them.

        ``versions.json`` is re-read only when it changed (its mtime and size), so a promotion or a
        rollback reaches the next request without a restart.
        """
        folder = self.adapters_dir / name
        stamp = versions.pointer_stamp(folder)
        if stamp is None and version is None:
            return None
        if version is None:
            cached = self._pointers.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
        key, servable = versions.serving(folder, version)
        if version is None:
            self._pointers[name] = (stamp, key, servable)
        return key, servable

    async def resolve(self, ref: str) -> str | None:
        """The engine's name for adapter ``ref`` (``NAME`` or ``NAME@VERSION``), loading it first when
        needed; None when there is no such adapter.

        A plain name reaches the promoted version of a versioned adapter (key ``NAME@vN``: each
        version is its own engine adapter, so a promotion switches without a restart and the old
        version stays loaded for a rollback); a flat adapter keeps its plain name. An adapter folder
        that appeared in ``adapters_dir`` after start (trained by ``ragtune train`` meanwhile, or
        published by another replica's deployment) is loaded, so every replica serves it without a
        restart."""
        if not is_valid_ref(ref):
            return None
        name, version = versions.split_ref(ref)
        try:
            versioned = None if name in self._unloaded else self._versioned(name, version)
        except (RagtuneError, OSError):
            versioned = None
            if version is not None:
                return None
        if versioned is None and self.has(ref):
            return ref  # a flat adapter, or one registered through the API
        if name in self._unloaded:
            return None
        if versioned is not None:
            key, folder = versioned
        else:
            key = name
            try:
                folder = adapter_folder(self.adapters_dir / name)
            except (NotFoundError, OSError):
                return None
        if self.has(key):
            return key
        await self._load_found(key, folder)
        return key if self.has(key) else None

    async def _load_found(self, name: str, folder: Path) -> None:
        check_audit(name, folder, self.allow_failed_audit)  # 409 with the reason (issue 17)
        async with self._discovering:
            if not self.has(name):
                try:
                    await self.engine.load_adapter(name, folder)
                except AdapterExistsError:
                    pass  # loaded by a concurrent request
                self._cards.pop(name, None)
                log.info("adapter %s found in %s and loaded", name, self.adapters_dir)

    def card(self, name: str) -> dict[str, Any] | None:
        if name not in self._cards:
            path = next((Path(i.path) for i in self.engine.adapters() if i.name == name), None)
            self._cards[name] = read_adapter_card(path) if path is not None else None
        return self._cards[name]

    def views(self) -> list[AdapterView]:
        return [
            AdapterView(name=i.name, path=str(i.path), card=self.card(i.name))
            for i in sorted(self.engine.adapters(), key=lambda i: i.name)
        ]

    def _resolve_path(self, name: str, path: str | None) -> Path:
        try:
            if path is None:
                candidate = self.adapters_dir / name
            else:
                candidate = Path(path).expanduser()
                if not candidate.is_absolute():
                    candidate = self.adapters_dir / candidate
            candidate = candidate.resolve()
            if self.confine_paths and not candidate.is_relative_to(self.adapters_dir.resolve()):
                raise ForbiddenError(f"adapters may only be registered from {self.adapters_dir}")
            if not candidate.is_dir():
                raise NotFoundError(f"no adapter folder at {candidate}")
            return adapter_folder(candidate)
        except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, loops, unreadable folders
            raise NotFoundError(f"no adapter folder at {path!r} ({type(exc).__name__})") from None

    async def register(self, name: str, path: str | None) -> AdapterView:
        """Load adapter ``name`` into the engine (409 if loaded, 404 if the folder is no adapter)."""
        folder = self._resolve_path(name, path)
        check_audit(name, folder, self.allow_failed_audit)  # 409 with the reason (issue 17)
        await self.engine.load_adapter(name, folder)
        self._cards.pop(name, None)
        self._unloaded.discard(name)
        log.info("adapter %s loaded from %s", name, folder)
        return AdapterView(name=name, path=str(folder), card=self.card(name))

    async def unload(self, name: str) -> None:
        """Unload adapter ``name`` from the engine (404 if it is not loaded)."""
        if not self.has(name):
            raise NotFoundError(f"adapter '{name}' is not loaded")
        await self.engine.unload_adapter(name)
        self._cards.pop(name, None)
        self._unloaded.add(name)
        log.info("adapter %s unloaded", name)

    def default_for(self, allowed: Any, preferred: str | None) -> str | None:
        """The adapter ``ft``/``hybrid`` use when a request names none.

        ``preferred`` (settings.gateway.default_adapter) when loaded and allowed, else the first
        loaded adapter (by name) that ``allowed(name)`` accepts, else None.
        """
        names = list(dict.fromkeys(n.partition("@")[0] for n in self.names()))  # versions: their adapter
        if preferred and preferred.partition("@")[0] in names and allowed(preferred.partition("@")[0]):
            return preferred
        return next((n for n in names if allowed(n)), None)


def no_adapter_error(mode: Mode) -> RagtuneError:
    """Mode ``mode`` needs an adapter and the caller has none (400)."""
    without = "/".join(f"'{m}'" for m in Mode.answer_modes() if not m.uses_adapter)
    return RagtuneError(
        f"mode '{mode}' needs an adapter and none is loaded for this key; train one "
        f"(`ragtune train`), register it (POST /v1/adapters) or use mode {without}"
    )
