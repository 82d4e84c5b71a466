"""Rate limits across replicas: two gateway processes counting against one Redis (a real
``redis-server`` started here) share one limit; an unreachable Redis fails open."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away redis-server (Debian's; ``make test`` installs it) on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


REPLICA = textwrap.dedent("""
    import sys
    from services.gateway.errors import RateLimitError
    from services.gateway.ratelimit import RateLimiter

    limiter = RateLimiter.for_redis(sys.argv[1])
    allowed = 0
    for _ in range(int(sys.argv[2])):
        try:
            limiter.check("tenant:shared", 10)
            allowed += 1
        except RateLimitError as exc:
            assert exc.retry_after_s >= 1
    print(allowed)
""")


def test_two_processes_share_one_limit(redis_url: str) -> None:
    replicas = [
        subprocess.Popen([sys.executable, "-c", REPLICA, redis_url, "8"], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    allowed = [int(p.communicate(timeout=120)[0].strip()) for p in replicas]
    assert sum(allowed) == 10, allowed  # 16 tries, one limit of 10 between the two


def test_gateway_settings_pick_redis_and_memory(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragtune.settings import Settings
    from services.gateway.ratelimit import RateLimiter

    monkeypatch.setenv("RAGTUNE_REDIS_URL", redis_url)
    assert Settings().redis_url == redis_url
    assert RateLimiter.for_redis(Settings().redis_url).storage_uri == redis_url
    assert RateLimiter.for_redis(None).storage_uri == "memory://"


def test_unreachable_redis_fails_open() -> None:
    from services.gateway.ratelimit import RateLimiter

    limiter = RateLimiter.for_redis(f"redis://127.0.0.1:{_free_port()}/0")
    for _ in range(3):
        limiter.check("tenant:x", 1)  # no 429 and no 500: logged, not limited
