"""``ragtune keys create | list | revoke | hash``: the gateway's API keys (``ragtune.keys``).

A new key is printed once; only its hash, public prefix and tenant settings are stored in
RAGTUNE_HOME/keys.json (mode 0600). Creating and revoking keys is written to the audit log.
"""

from __future__ import annotations

import getpass
import json
import sys

import typer
from pydantic import ValidationError

from ragtune.errors import RagtuneError

keys_app = typer.Typer(help="Create, list and revoke the gateway's API keys (stored hashed).", no_args_is_help=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


@keys_app.command("create")
def keys_create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant name (also its adapters folder name)."),
    roles: str = typer.Option("chat", help="Comma-separated roles: chat, documents, adapters, rate, admin."),
    namespace: str = typer.Option("default", help="The index namespace the key works in."),
    adapters: str = typer.Option("*", help="Comma-separated adapter names the key may use ('*' = any it may reach)."),
    rate_limit: int = typer.Option(120, "--rate-limit", help="Requests per minute."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (key, prefix, tenant)."),
) -> None:
    """Create a key; it is printed ONCE (only its hash is stored)."""
    from ragtune.audit_log import AuditLog
    from ragtune.keys import KeyFile
    from ragtune.settings import TenantSettings, get_settings

    settings = get_settings()
    try:
        config = TenantSettings(
            name=tenant,
            roles=_split(roles),  # type: ignore[arg-type]
            namespace=namespace,
            adapters=_split(adapters),
            rate_limit_per_minute=rate_limit,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RagtuneError(f"invalid key settings: {problems}") from None
    if not config.roles:
        raise RagtuneError("--roles needs at least one role (chat, documents, adapters, rate, admin)")
    key, record = KeyFile(settings.keys_file).create(config)
    AuditLog.in_home(settings.home).append(
        _actor(), "key.create", record.prefix, {"tenant": tenant, "roles": [r.value for r in config.roles]}
    )
    secret = key.get_secret_value()
    if as_json:
        print(json.dumps({"key": secret, "prefix": record.prefix, "tenant": config.model_dump(mode="json")}))
        return
    print(secret)
    print(
        f"key {record.prefix} for tenant '{tenant}' ({', '.join(r.value for r in config.roles)}); "
        "shown once: store it now (only its hash is kept)",
        file=sys.stderr,
    )


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The stored keys: prefix, tenant, roles, created (never the key)."""
    from ragtune.keys import KeyFile
    from ragtune.settings import get_settings

    records = KeyFile(get_settings().keys_file).read()
    if as_json:
        print(json.dumps([r.model_dump(mode="json", exclude={"hash"}) for r in records], indent=2))
        return
    if not records:
        print("no keys (create one with `ragtune keys create --tenant NAME --roles chat`)")
        return
    print(f"{'prefix':12} {'tenant':20} {'namespace':16} {'roles':32} created")
    for r in records:
        roles = ",".join(role.value for role in r.tenant.roles)
        created = r.created.strftime("%Y-%m-%d %H:%M")
        print(f"{r.prefix:12} {r.tenant.name:20} {r.tenant.namespace:16} {roles:32} {created}")


@keys_app.command("revoke")
def keys_revoke(prefix: str = typer.Argument(..., help="The key's prefix (see `ragtune keys list`).")) -> None:
    """Revoke a key: running gateways refuse it from their next request on."""
    from ragtune.audit_log import AuditLog
    from ragtune.keys import KeyFile
    from ragtune.settings import get_settings

    settings = get_settings()
    record = KeyFile(settings.keys_file).revoke(prefix)
    AuditLog.in_home(settings.home).append(_actor(), "key.revoke", record.prefix, {"tenant": record.tenant.name})
    print(f"revoked {record.prefix} (tenant '{record.tenant.name}')")


@keys_app.command("hash")
def keys_hash() -> None:
    """Print the ``sha256:`` hash of a key read from stdin, for gateway.api_keys in the settings."""
    from ragtune.key_hash import hash_key

    key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("API key: ").strip()
    if not key:
        raise RagtuneError("no key given on stdin")
    print(hash_key(key))


def register(app: typer.Typer) -> None:
    """Add ``keys`` to the ``ragtune`` command."""
    app.add_typer(keys_app, name="keys")
