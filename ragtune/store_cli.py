"""``ragtune store keygen|check|rekey``: the encryption key of the data under RAGTUNE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import typer

store_app = typer.Typer(
    help="Encryption at rest: make a key, check that it opens the store, rotate it.", no_args_is_help=True
)
NEW_KEY_ENV = "RAGTUNE_NEW_ENCRYPTION_KEY"


@store_app.command("keygen")
def keygen() -> None:
    """Print a new random key (for RAGTUNE_ENCRYPTION_KEY or a key file); it is shown only here."""
    from ragtune.crypto import new_secret

    print(new_secret())


@store_app.command("check")
def check() -> None:
    """Open every database under RAGTUNE_HOME with the configured key (or none) and say so."""
    from ragtune.console import console
    from ragtune.crypto_home import check_home, databases, encrypted_files
    from ragtune.settings import get_settings

    settings = get_settings()
    key = check_home(settings)
    state = f"encrypted (key id {key.key_id.hex()})" if key else "not encrypted (no key configured)"
    console.print(
        f"[green]✓[/] {settings.home}: {state}; {len(databases(settings.home))} database(s), "
        f"{len(encrypted_files(settings.home))} encrypted file(s) open with it"
    )


@store_app.command("rekey")
def rekey(
    new_key_file: Path = typer.Option(None, "--new-key-file", help="File holding the new key."),
    new_key: str = typer.Option(
        None, "--new-key", help=f"The new key (better: {NEW_KEY_ENV} or --new-key-file, kept out of shell history)."
    ),
    decrypt: bool = typer.Option(False, "--decrypt", help="Store everything in clear instead (no new key)."),
    also: list[Path] = typer.Option(None, "--file", help="Another encrypted file to re-encrypt (repeatable)."),
) -> None:
    """Re-encrypt everything under RAGTUNE_HOME from the configured key (none: a plain store) to a
    new one. Stop the gateway first; afterwards set the new key in place of the old one."""
    from pydantic import SecretStr

    from ragtune.console import console
    from ragtune.crypto import EncryptionError, key_from
    from ragtune.crypto_home import rekey as rekey_home
    from ragtune.running import running_gateway
    from ragtune.settings import get_settings

    settings = get_settings()
    secret = new_key if new_key is not None else os.environ.get(NEW_KEY_ENV)
    new = None if decrypt else key_from(SecretStr(secret) if secret else None, new_key_file, what="the new key")
    if new is None and not decrypt:
        raise EncryptionError(f"give the new key: {NEW_KEY_ENV}, --new-key-file or --new-key (or --decrypt)")
    if decrypt and (secret or new_key_file):
        raise EncryptionError("--decrypt takes no new key")
    if running_gateway(settings.home):
        raise EncryptionError(
            f"a gateway serves {settings.home} ({settings.home / 'run' / 'gateway.url'}): stop it first "
            "(delete that file if no gateway runs)"
        )
    report = rekey_home(settings, new, list(also or []))
    if report.finished_interrupted:
        console.print("[yellow]finished an interrupted rekey[/]: the data is under that run's new key now")
        return
    where = "in clear" if decrypt else f"under the new key (id {new.key_id.hex() if new else ''})"
    console.print(
        f"[green]✓[/] {len(report.databases)} database(s) and {len(report.files)} file(s) re-written {where}; "
        + ("unset the old key" if decrypt else "now replace RAGTUNE_ENCRYPTION_KEY (or its file) with the new key")
    )


def register(app: typer.Typer) -> None:
    """Add ``ragtune store`` to the root CLI."""
    app.add_typer(store_app, name="store")
