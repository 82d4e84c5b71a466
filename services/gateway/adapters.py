"""The adapters a gateway serves: the engine's loaded adapters plus their training cards and owners.

The engine is the single source of truth for what is loaded; this module adds run-time
register/unload with path checks, reads each adapter's card (``training.adapter_folder``) and
records whose each adapter is:

- a tenant's own adapters live under ``TENANTS_DIR/<tenant>/adapters/`` (``ragtune train --tenant``);
  a tenant registers only from there, and only it (and admins) may use or unload them;
- adapters of the shared folder (RAGTUNE_HOME/adapters, loaded at start) or registered by an admin
  from elsewhere are the admin's: another key may use them only when the admin shares them
  (``gateway.shared_adapters``, or ``shared: true`` on register), and never unload them.

Adapter names are one namespace for the whole gateway (the engine's): a name taken by one tenant
cannot be registered by another. Ownership is decided by where the resolved folder lies, so any
layout inside an adapter folder (versions, ``adapter/`` sub-folders) is covered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import NotFoundError, RagtuneError
from ragtune.names import is_valid_name, is_valid_ref
from services.engines.audit_gate import check_audit
from services.engines.base import AdapterExistsError, Engine
from services.gateway.errors import ForbiddenError
from services.gateway.schemas import AdapterView
from services.modes import Mode
from training import adapter_folder as folders
from training import versions

if TYPE_CHECKING:
    from services.gateway.tenants import Tenant

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


def adapter_of(ref: str) -> str:
    """The adapter a reference names: ``NAME`` of ``NAME@VERSION`` (a version has its adapter's rights)."""
    return ref.partition("@")[0]


def _reaches_all(tenant: Tenant) -> bool:
    """Admin keys and the local (no-key) user reach every adapter and folder."""
    return tenant.is_admin or not tenant.restricted


@dataclass(frozen=True)
class Ownership:
    """Whose an adapter is."""

    owner: str | None
    """The tenant it belongs to; None: the admin's (shared folder, or registered by an admin)."""
    shared: bool
    """Every key may use it (within its ``adapters`` list): an admin's explicit choice."""


class AdapterRegistry:
    """Register, unload and describe the engine's adapters, and say who may use each."""

    def __init__(
        self,
        engine: Engine,
        adapters_dir: Path,
        *,
        confine_paths: bool,
        allow_failed_audit: bool = False,
        tenants_dir: Path | None = None,
        shared: Iterable[str] = (),
    ) -> None:
        self.engine = engine
        self.adapters_dir = adapters_dir
        self.confine_paths = confine_paths
        """When True (API keys configured) admin keys register only from adapters_dir or a tenant's
        folder (other keys only from their own folder, always)."""
        self.allow_failed_audit = allow_failed_audit
        """Serve adapters whose memorization audit failed (``audit.allow_failed``)."""
        self.tenants_dir = tenants_dir.resolve() if tenants_dir is not None else None
        """``<tenant>/adapters/`` under it holds each tenant's own adapters."""
        self.shared = set(shared)
        """Names of admin adapters every key may use (``gateway.shared_adapters``; ``*`` = all)."""
        self._owners: dict[str, Ownership] = {}
        self._cards: dict[str, dict[str, Any] | None] = {}
        self._discovering = asyncio.Lock()
        self._unloaded: set[str] = set()
        """Names unloaded through the API: not looked up in adapters_dir again until registered."""
        self._pointers: dict[str, tuple[tuple[int, int] | None, str, Path]] = {}
        """Adapter folder -> (versions.json stamp, engine key, folder) of its promoted version."""

    def names(self) -> list[str]:
        return sorted(info.name for info in self.engine.adapters())

    def has(self, name: str) -> bool:
        return any(info.name == name for info in self.engine.adapters())

    # --- ownership ------------------------------------------------------------------------
    def tenant_root(self, tenant: str) -> Path | None:
        """Tenant ``tenant``'s own adapters folder (None when tenants have none configured)."""
        if self.tenants_dir is None or not is_valid_name(tenant):
            return None
        return self.tenants_dir / tenant / "adapters"

    def owner_of_path(self, path: Path) -> str | None:
        """The tenant whose own folder holds ``path`` (resolved), or None."""
        if self.tenants_dir is None:
            return None
        try:
            parts = Path(path).resolve().relative_to(self.tenants_dir).parts
        except (ValueError, OSError, RuntimeError):
            return None
        return parts[0] if len(parts) >= 3 and parts[1] == "adapters" else None

    def ownership(self, name: str) -> Ownership:
        """Whose loaded adapter ``name`` is: as recorded at registration, else by its folder."""
        if name in self._owners:
            return self._owners[name]
        path = next((Path(i.path) for i in self.engine.adapters() if i.name == name), None)
        owner = self.owner_of_path(path) if path is not None else None
        return Ownership(owner=owner, shared="*" in self.shared or adapter_of(name) in self.shared)

    def may_use(self, tenant: Tenant, name: str) -> bool:
        """True when ``tenant`` may answer with adapter ``name`` (its ``adapters`` list allows the
        name, and the adapter is its own, shared, or the caller is an admin)."""
        if not tenant.may_use_adapter(adapter_of(name)):
            return False
        if _reaches_all(tenant) or not self.has(name):
            return True
        own = self.ownership(name)
        return own.owner == tenant.name or own.shared

    def check_use(self, tenant: Tenant, name: str) -> None:
        """ForbiddenError (403) unless ``tenant`` may use adapter ``name``."""
        tenant.check_adapter(name)
        if not self.may_use(tenant, name):
            raise ForbiddenError(self._not_yours(name))

    def _not_yours(self, name: str) -> str:
        if self.ownership(name).owner is not None:
            return f"adapter '{name}' belongs to another tenant"
        return f"adapter '{name}' is not shared with this API key (an admin shares adapters)"

    def check_manage(self, tenant: Tenant, name: str) -> None:
        """ForbiddenError (403) unless ``tenant`` may unload or replace adapter ``name``: its own
        adapters only (admins: every adapter)."""
        tenant.check_adapter(adapter_of(name))
        if _reaches_all(tenant) or not self.has(name):
            return
        if self.ownership(name).owner != tenant.name:
            owner = self.ownership(name).owner
            raise ForbiddenError(
                f"adapter '{name}' belongs to another tenant; adapter names are shared by all tenants, "
                "so register yours under another name"
                if owner is not None
                else f"adapter '{name}' is an admin's (shared) adapter; only an admin key may unload or replace it"
            )

    # --- discovery, registration, unloading ---------------------------------------------------
    async def find(self, name: str, tenant: Tenant | None = None) -> bool:
        """True when adapter ``name`` (or ``NAME@VERSION``) can be served to ``tenant``; see ``resolve``."""
        return await self.resolve(name, tenant) is not None

    def _roots(self, tenant: Tenant | None) -> list[tuple[Path, bool]]:
        """(folder, is the caller's own) to look for adapters in: ``tenant``'s own folder first (a
        restricted key's), then the shared ``adapters_dir``."""
        own = self.tenant_root(tenant.name) if tenant is not None and tenant.restricted else None
        return ([(own, True)] if own is not None else []) + [(self.adapters_dir, False)]

    def _check_shared(self, name: str, own: bool, tenant: Tenant | None) -> None:
        """403 when ``tenant`` finds admin adapter ``name`` in the shared folder and it is not shared."""
        if own or tenant is None or _reaches_all(tenant):
            return
        if not ("*" in self.shared or name in self.shared):
            raise ForbiddenError(f"adapter '{name}' is not shared with this API key (an admin shares adapters)")

    def _versioned(self, folder: Path, version: str | None) -> tuple[str, Path] | None:
        """(engine key, folder) of the version ``version`` (the promoted one when None) of the adapter
        at ``folder`` when it has versions (``training.versions``); None for a flat adapter.

        ``versions.json`` is re-read only when it changed (its mtime and size), so a promotion or a
        rollback reaches the next request without a restart.
        """
        stamp = versions.pointer_stamp(folder)
        if stamp is None and version is None:
            return None
        cache = str(folder)
        if version is None:
            cached = self._pointers.get(cache)
            if cached is not None and cached[0] == stamp:
                return cached[1], cached[2]
        key, servable = versions.serving(folder, version)
        if version is None:
            self._pointers[cache] = (stamp, key, servable)
        return key, servable

    async def resolve(self, ref: str, tenant: Tenant | None = None) -> str | None:
        """The engine's name for adapter ``ref`` (``NAME`` or ``NAME@VERSION``), loading it first when
        needed; None when there is no such adapter.

        A plain name reaches the promoted version of a versioned adapter (key ``NAME@vN``: each
        version is its own engine adapter, so a promotion switches without a restart and the old
        version stays loaded for a rollback); a flat adapter keeps its plain name. Folders are looked
        for in ``tenant``'s own folder first, then in ``adapters_dir`` (an admin adapter: found for a
        key only when shared, else 403). A folder that appeared after start (trained by ``ragtune
        train`` meanwhile, or published by another replica's deployment) is loaded, so every replica
        serves it without a restart."""
        if not is_valid_ref(ref):
            return None
        name, version = versions.split_ref(ref)
        if name in self._unloaded:
            return ref if self.has(ref) else None
        for root, own in self._roots(tenant):
            try:
                versioned = self._versioned(root / name, version)
            except (RagtuneError, OSError):
                continue
            if versioned is not None:
                key, folder = versioned
                if not self.has(key):
                    self._check_shared(name, own, tenant)
                    await self._load_found(key, folder)
                return key if self.has(key) else None
        if version is not None:
            return ref if self.has(ref) else None
        if self.has(ref):
            return ref  # a flat adapter, or one registered through the API
        for root, own in self._roots(tenant):
            try:
                folder = adapter_folder(root / name)
            except (NotFoundError, OSError):
                continue
            self._check_shared(name, own, tenant)
            await self._load_found(name, folder)
            return name if self.has(name) else None
        return None

    async def _load_found(self, name: str, folder: Path) -> None:
        check_audit(name, folder, self.allow_failed_audit)  # 409 with the reason (issue 17)
        async with self._discovering:
            if not self.has(name):
                try:
                    await self.engine.load_adapter(name, folder)
                except AdapterExistsError:
                    pass  # loaded by a concurrent request
                self._cards.pop(name, None)
                self._owners.pop(name, None)  # owner: by its folder
                log.info("adapter %s found in %s and loaded", name, folder)

    def card(self, name: str) -> dict[str, Any] | None:
        if name not in self._cards:
            path = next((Path(i.path) for i in self.engine.adapters() if i.name == name), None)
            self._cards[name] = read_adapter_card(path) if path is not None else None
        return self._cards[name]

    def views(self) -> list[AdapterView]:
        views = []
        for i in sorted(self.engine.adapters(), key=lambda i: i.name):
            own = self.ownership(i.name)
            views.append(
                AdapterView(name=i.name, path=str(i.path), card=self.card(i.name), owner=own.owner, shared=own.shared)
            )
        return views

    def _resolve_path(self, name: str, path: str | None, tenant: Tenant | None = None) -> Path:
        """The adapter folder to register: a tenant's (non-admin key's) own folder only; an admin
        key's from the shared folder or a tenant's; the local (no-key) user's from anywhere."""
        confined_to = tenant.name if tenant is not None and not _reaches_all(tenant) else None
        own = self.tenant_root(confined_to) if confined_to is not None else None
        if confined_to is not None and own is None:
            raise ForbiddenError("this gateway has no tenant adapter folders; ask an admin to register adapters")
        base = own or self.adapters_dir
        try:
            if path is None:
                candidate = base / name
            else:
                candidate = Path(path).expanduser()
                if not candidate.is_absolute():
                    candidate = base / candidate
            candidate = candidate.resolve()
            if own is not None:
                if not candidate.is_relative_to(own.resolve()):
                    raise ForbiddenError(
                        "this API key may only register adapters from its own folder "
                        f"(tenants/{confined_to}/adapters/ under RAGTUNE_HOME); that folder is not its own"
                    )
            elif self.confine_paths and (tenant is None or tenant.restricted):
                roots = [self.adapters_dir.resolve()] + ([self.tenants_dir] if self.tenants_dir else [])
                if not any(candidate.is_relative_to(root) for root in roots):
                    raise ForbiddenError("adapters may only be registered from the adapters or tenants folders")
            if not candidate.is_dir():
                raise NotFoundError(f"no adapter folder at {candidate}")
            return adapter_folder(candidate)
        except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, loops, unreadable folders
            raise NotFoundError(f"no adapter folder at {path!r} ({type(exc).__name__})") from None

    async def register(
        self,
        name: str,
        path: str | None,
        tenant: Tenant | None = None,
        *,
        shared: bool = False,
        owner: str | None = None,
    ) -> AdapterView:
        """Load adapter ``name`` into the engine for ``tenant`` (None: as an admin). 403 for another
        tenant's name or folder, 409 if loaded, 404 if the folder is no adapter. Only admins set
        ``shared`` (every key may use it) or ``owner`` (assign it to a tenant)."""
        if tenant is not None and not _reaches_all(tenant) and (shared or owner is not None):
            raise ForbiddenError("only an admin API key may share an adapter or assign it to a tenant")
        if tenant is not None:
            self.check_manage(tenant, name)
        folder = self._resolve_path(name, path, tenant)
        check_audit(name, folder, self.allow_failed_audit)  # 409 with the reason (issue 17)
        await self.engine.load_adapter(name, folder)
        self._cards.pop(name, None)
        self._unloaded.discard(name)
        self._owners[name] = Ownership(
            owner=owner or self.owner_of_path(folder),
            shared=shared or "*" in self.shared or name in self.shared,
        )
        own = self._owners[name]
        log.info("adapter %s loaded (owner: %s)", name, own.owner or "admin")
        return AdapterView(name=name, path=str(folder), card=self.card(name), owner=own.owner, shared=own.shared)

    async def unload(self, name: str, tenant: Tenant | None = None) -> None:
        """Unload adapter ``name`` from the engine (404 if it is not loaded; 403 when ``tenant`` is
        not its owner or an admin)."""
        if tenant is not None:
            self.check_manage(tenant, name)
        if not self.has(name):
            raise NotFoundError(f"adapter '{name}' is not loaded")
        await self.engine.unload_adapter(name)
        self._cards.pop(name, None)
        self._owners.pop(name, None)
        self._unloaded.add(name)
        log.info("adapter %s unloaded", name)

    def default_for(self, allowed: Any, preferred: str | None) -> str | None:
        """The adapter ``ft``/``hybrid`` use when a request names none.

        ``preferred`` (settings.gateway.default_adapter) when loaded and allowed, else the first
        loaded adapter (by name) that ``allowed(name)`` accepts, else None.
        """
        names = list(dict.fromkeys(adapter_of(n) for n in self.names()))  # versions: their adapter
        if preferred and adapter_of(preferred) in names and allowed(adapter_of(preferred)):
            return preferred
        return next((n for n in names if allowed(n)), None)


def no_adapter_error(mode: Mode) -> RagtuneError:
    """Mode ``mode`` needs an adapter and the caller has none (400)."""
    without = "/".join(f"'{m}'" for m in Mode.answer_modes() if not m.uses_adapter)
    return RagtuneError(
        f"mode '{mode}' needs an adapter and none is loaded for this key; train one "
        f"(`ragtune train`), register it (POST /v1/adapters) or use mode {without}"
    )
