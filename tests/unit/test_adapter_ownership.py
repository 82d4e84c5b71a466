"""Adapters belong to tenants (``services.gateway.adapters``): a tenant registers only from its own
folder, and cannot use, unload or overwrite another tenant's adapter, nor an admin's unless shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.errors import NotFoundError
from ragtune.settings import Role
from services.gateway.adapters import AdapterRegistry
from services.gateway.errors import ForbiddenError
from services.gateway.tenants import Tenant
from tests.fakes import FakeEngine

pytestmark = pytest.mark.unit


def tenant(name: str, *roles: Role, adapters: tuple[str, ...] = ("*",), restricted: bool = True) -> Tenant:
    return Tenant(
        name=name,
        namespace="default",
        adapters=adapters,
        rate_limit_per_minute=100,
        restricted=restricted,
        limit_key=name,
        roles=frozenset(roles or {Role.CHAT, Role.ADAPTERS}),
    )


A, B = tenant("a"), tenant("b")
ADMIN = tenant("ops", Role.ADMIN)
LOCAL = tenant("local", *Role, restricted=False)


def adapter_at(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    return folder


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    adapter_at(tmp_path / "adapters" / "house")  # the admin's shared folder
    adapter_at(tmp_path / "adapters" / "public")
    adapter_at(tmp_path / "tenants" / "a" / "adapters" / "voice-a")
    adapter_at(tmp_path / "tenants" / "b" / "adapters" / "voice-b")
    adapter_at(tmp_path / "tenants" / "b" / "adapters" / "voice-a")  # B's folder, A's name
    adapter_at(tmp_path / "tenants" / "b" / "adapters" / "versioned" / "v2")  # a version inside a folder
    return tmp_path


def registry(home: Path, *, shared: tuple[str, ...] = ("public",)) -> AdapterRegistry:
    return AdapterRegistry(
        FakeEngine(), home / "adapters", confine_paths=True, tenants_dir=home / "tenants", shared=shared
    )


async def test_a_tenant_registers_only_from_its_own_folder(home: Path) -> None:
    adapters = registry(home)
    view = await adapters.register("voice-a", None, A)  # default: its own folder
    assert view.owner == "a" and not view.shared
    for path in (
        str(home / "tenants" / "b" / "adapters" / "voice-a"),  # B's folder under A's name
        "../../b/adapters/voice-b",  # relative, escaping A's folder
        str(home / "adapters" / "house"),  # the admin's folder
    ):
        with pytest.raises(ForbiddenError, match="own folder"):
            await adapters.register("stolen", path, A)
    (home / "tenants" / "a" / "adapters" / "link").symlink_to(home / "tenants" / "b" / "adapters" / "voice-b")
    with pytest.raises(ForbiddenError, match="own folder"):
        await adapters.register("link", None, A)  # a symlink resolves outside: refused
    assert adapters.names() == ["voice-a"]


async def test_names_are_global_and_owned(home: Path) -> None:
    adapters = registry(home)
    await adapters.register("voice-a", None, A)
    with pytest.raises(ForbiddenError, match="belongs to another tenant"):
        await adapters.register("voice-a", None, B)  # B's own folder, A's name: no overwrite
    with pytest.raises(ForbiddenError, match="belongs to another tenant"):
        await adapters.unload("voice-a", B)
    assert not adapters.may_use(B, "voice-a") and adapters.may_use(A, "voice-a")
    with pytest.raises(ForbiddenError, match="belongs to another tenant"):
        adapters.check_use(B, "voice-a")
    await adapters.unload("voice-a", A)
    assert adapters.names() == []


async def test_nested_versions_stay_their_tenants(home: Path) -> None:
    adapters = registry(home)
    view = await adapters.register("versioned", "versioned/v2", B)
    assert view.owner == "b" and adapters.ownership("versioned").owner == "b"
    assert not adapters.may_use(A, "versioned")


async def test_admin_adapters_are_shared_only_when_the_admin_says_so(home: Path) -> None:
    adapters = registry(home)
    assert await adapters.find("public", A)  # listed in gateway.shared_adapters
    with pytest.raises(ForbiddenError, match="not shared"):
        await adapters.find("house", A)
    assert await adapters.find("house", ADMIN)
    assert not adapters.may_use(A, "house") and adapters.may_use(ADMIN, "house")
    with pytest.raises(ForbiddenError, match="only an admin"):
        await adapters.unload("public", A)  # shared to use, not to unload
    with pytest.raises(ForbiddenError, match="only an admin"):
        await adapters.register("mine", None, A, shared=True)
    await adapters.unload("house", ADMIN)
    view = await adapters.register("house", None, ADMIN, shared=True)
    assert view.owner is None and view.shared and adapters.may_use(A, "house")


async def test_admin_assigns_and_reaches_every_adapter(home: Path) -> None:
    adapters = registry(home)
    await adapters.register("voice-b", None, B)
    view = await adapters.register("gift", str(home / "adapters" / "house"), ADMIN, owner="a")
    assert view.owner == "a" and adapters.may_use(A, "gift") and not adapters.may_use(B, "gift")
    await adapters.unload("voice-b", ADMIN)
    with pytest.raises(ForbiddenError, match="adapters or tenants folders"):
        await adapters.register("outside", "/tmp", ADMIN)  # admin keys stay inside RAGTUNE_HOME
    with pytest.raises(NotFoundError):
        await adapters.register("outside", "/nonexistent-folder", LOCAL)  # local user: anywhere


async def test_a_tenants_name_list_still_applies(home: Path) -> None:
    adapters = registry(home)
    limited = tenant("a", adapters=("other",))
    with pytest.raises(ForbiddenError, match="may not use adapter"):
        await adapters.register("voice-a", None, limited)


async def test_discovery_finds_a_tenants_own_adapter_first(home: Path) -> None:
    adapters = registry(home)
    assert await adapters.find("voice-b", B)
    assert adapters.ownership("voice-b").owner == "b"
    assert not adapters.may_use(A, "voice-b")
    assert not await adapters.find("voice-c", A)  # nowhere: not found
