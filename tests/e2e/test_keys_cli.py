"""``ragtune keys create | list | revoke | hash`` as an operator runs them, against a served gateway
(subprocesses, local engine): the key is printed once, stored hashed, and a revoke needs no restart."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
RAGTUNE = str(Path(sys.executable).parent / "ragtune")


def run(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([RAGTUNE, *args], env=env, capture_output=True, text=True, timeout=300, input=stdin)


@pytest.fixture(scope="module")
def home_env(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("keys-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    env = {**os.environ, "RAGTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env.pop("RAGTUNE_GATEWAY__API_KEYS", None)
    return home, env


def test_keys_verbs_and_a_served_gateway(home_env, serve_gateway, free_port) -> None:
    home, env = home_env
    created = run("keys", "create", "--tenant", "acme", "--roles", "chat,documents", "--namespace", "acme", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("rt_") and "shown once" in created.stderr
    as_json = json.loads(run("keys", "create", "--tenant", "ops", "--roles", "admin", "--json", env=env).stdout)
    admin_key, admin_prefix = as_json["key"], as_json["prefix"]
    prefix = key[: len(admin_prefix)]

    keys_file = home / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert key not in keys_file.read_text() and admin_key not in keys_file.read_text()
    listed = run("keys", "list", env=env)
    assert listed.returncode == 0 and prefix in listed.stdout and "chat,documents" in listed.stdout
    assert key not in listed.stdout and admin_key not in listed.stdout
    assert [r["tenant"]["name"] for r in json.loads(run("keys", "list", "--json", env=env).stdout)] == ["acme", "ops"]

    bad = run("keys", "create", "--tenant", "x", "--roles", "chat,root", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    hashed = run("keys", "hash", env=env, stdin=key + "\n")
    assert hashed.stdout.strip().startswith("sha256:") and hashed.stdout.strip() in keys_file.read_text()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve_gateway([RAGTUNE, "serve", "--engine", "local", "--port", str(port)], env, home / "serve.log", url):
        who = httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        assert who.status_code == 200 and who.json()["tenant"] == "acme" and who.json()["key_prefix"] == prefix
        assert httpx.get(f"{url}/v1/whoami").status_code == 401  # the keys file alone turns keys on
        assert httpx.get(f"{url}/v1/kpi", headers={"Authorization": f"Bearer {key}"}).status_code == 403

        revoked = run("keys", "revoke", prefix, env=env)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        status, deadline = 200, time.monotonic() + 30
        while status == 200 and time.monotonic() < deadline:
            status = httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {key}"}).status_code
            time.sleep(0.2)
        assert status == 401
        assert httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200
    assert key not in (home / "serve.log").read_text()
    again = run("keys", "revoke", prefix, env=env)
    assert again.returncode == 2 and "no API key with prefix" in again.stderr
    actions = [json.loads(line)["action"] for line in (home / "audit.jsonl").read_text().splitlines()]
    assert actions == ["key.create", "key.create", "key.revoke"]
