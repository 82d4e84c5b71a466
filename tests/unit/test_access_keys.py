"""Hashed API keys: the settings keep hashes only, the keys file (create/list/revoke), the key ring
the gateway authenticates with (revocation without a restart), and no key in any repr or log."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

import ragtune.settings as settings_module
from ragtune.errors import NotFoundError, RagtuneError
from ragtune.key_hash import hash_key, is_key_hash, key_prefix, new_key
from ragtune.keys import KeyFile, KeyRing
from ragtune.settings import GatewaySettings, Role, Settings, TenantSettings
from services.gateway.errors import AuthError
from services.gateway.tenants import authenticate, check_bind_address

pytestmark = pytest.mark.unit

PLAIN = "plain-secret-key-0123456789"


def test_new_keys_are_random_with_a_public_prefix() -> None:
    key, prefix = new_key()
    other, _ = new_key()
    secret = key.get_secret_value()
    assert secret.startswith(prefix + "_") and key_prefix(key) == prefix and len(secret) > 40
    assert secret != other.get_secret_value()
    assert secret not in repr(key) and secret not in str(key)
    assert is_key_hash(hash_key(key)) and hash_key(key) == hash_key(secret)
    assert key_prefix("some-old-key") is None and not is_key_hash("sha256:xyz")


def test_settings_hash_plain_keys_and_keep_hashes(caplog: pytest.LogCaptureFixture) -> None:
    settings_module._warned_plain_keys = False
    hashed = hash_key("already-hashed-key")
    with caplog.at_level(logging.WARNING, logger="ragtune.settings"):
        gateway = GatewaySettings(api_keys={PLAIN: {"name": "a"}, hashed: {"name": "b", "roles": ["admin"]}})
        GatewaySettings(api_keys={PLAIN: {"name": "a"}})  # warned once per process
    assert set(gateway.api_keys) == {hash_key(PLAIN), hashed}
    assert gateway.api_keys[hash_key(PLAIN)].roles == [Role.CHAT]  # no roles: chat only
    warnings = [r for r in caplog.records if r.name == "ragtune.settings"]
    assert len(warnings) == 1 and "hashed at load" in warnings[0].getMessage()
    assert PLAIN not in caplog.text
    assert PLAIN not in repr(Settings(gateway=gateway.model_dump())) and PLAIN not in str(gateway)


def test_a_validation_error_never_shows_the_key() -> None:
    with pytest.raises(ValueError) as error:
        GatewaySettings(api_keys={PLAIN: {"name": "bad name/.."}})
    assert PLAIN not in str(error.value) and "tenant name" in str(error.value)


def test_keys_from_the_environment_are_hashed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAGTUNE_GATEWAY__API_KEYS", f'{{"{PLAIN}": {{"name": "env", "roles": ["documents"]}}}}')
    monkeypatch.setenv("RAGTUNE_CONFIG", str(tmp_path / "none.toml"))
    settings = Settings(home=tmp_path)
    assert list(settings.gateway.api_keys) == [hash_key(PLAIN)]
    tenant = authenticate(settings.gateway, f"Bearer {PLAIN}", "10.0.0.1")
    assert tenant.name == "env" and tenant.has(Role.DOCUMENTS) and not tenant.has(Role.ADAPTERS)


def test_keys_file_create_list_revoke(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    assert keys.read() == []
    key, record = keys.create(TenantSettings(name="acme", roles=[Role.CHAT, Role.DOCUMENTS], namespace="acme"))
    secret = key.get_secret_value()
    text = keys.path.read_text()
    assert secret not in text and record.hash in text and record.prefix in text
    assert stat.S_IMODE(os.stat(keys.path).st_mode) == 0o600
    second, _ = keys.create(TenantSettings(name="other"))
    assert [r.tenant.name for r in keys.read()] == ["acme", "other"]
    assert keys.revoke(record.prefix).tenant.name == "acme"
    assert [r.tenant.name for r in keys.read()] == ["other"]
    with pytest.raises(NotFoundError, match="no API key with prefix"):
        keys.revoke(record.prefix)
    with pytest.raises(RagtuneError, match="not a key prefix"):
        keys.revoke(secret)  # a whole key is not echoed back as a prefix either
    assert second.get_secret_value() not in keys.path.read_text()


def test_a_damaged_keys_file_is_a_clear_error_and_grants_nothing(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(RagtuneError, match="damaged"):
        KeyFile(path).read()
    ring = KeyRing({}, path)
    assert ring.lookup("anything") is None and not ring.any()


def test_key_ring_sees_new_and_revoked_keys_without_a_restart(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    ring = KeyRing({hash_key(PLAIN): TenantSettings(name="configured")}, keys.path, recheck_s=0)
    gateway = GatewaySettings()
    assert ring.any()
    assert authenticate(gateway, f"Bearer {PLAIN}", "10.0.0.1", ring).key_prefix is None
    key, record = keys.create(TenantSettings(name="filed", roles=[Role.ADMIN]))
    tenant = authenticate(gateway, f"Bearer {key.get_secret_value()}", "10.0.0.1", ring)
    assert tenant.name == "filed" and tenant.is_admin and tenant.key_prefix == record.prefix
    keys.revoke(record.prefix)
    with pytest.raises(AuthError, match="unknown API key") as error:
        authenticate(gateway, f"Bearer {key.get_secret_value()}", "10.0.0.1", ring)
    assert key.get_secret_value() not in str(error.value)


def test_keys_file_alone_turns_on_authentication(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    ring = KeyRing({}, keys.path, recheck_s=0)
    gateway = GatewaySettings()
    assert authenticate(gateway, None, "127.0.0.1", ring).name == "local"  # keyless loopback mode
    with pytest.raises(Exception, match="refusing to bind"):
        check_bind_address(gateway, "0.0.0.0", ring)
    keys.create(TenantSettings(name="t"))
    check_bind_address(gateway, "0.0.0.0", ring)
    with pytest.raises(AuthError, match="missing API key"):
        authenticate(gateway, None, "127.0.0.1", ring)


def test_tenant_adapter_folders(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.tenant_adapters_dir("acme") == tmp_path.resolve() / "tenants" / "acme" / "adapters"
    moved = Settings(home=tmp_path, gateway={"tenants_dir": str(tmp_path / "elsewhere")})
    assert moved.tenant_adapters_dir("acme") == (tmp_path / "elsewhere" / "acme" / "adapters").resolve()
    with pytest.raises(RagtuneError, match="invalid tenant name"):
        settings.tenant_adapters_dir("../b")
    # what `ragtune train --tenant acme` does: only the output folder changes
    training = settings.model_copy(update={"adapters_path": settings.tenant_adapters_dir("acme")})
    assert (
        training.adapters_dir == settings.tenant_adapters_dir("acme")
        and settings.adapters_dir == tmp_path.resolve() / "adapters"
    )
