#!/bin/sh
# Wait until an HTTP URL answers 200 (e.g. vLLM's /health before the gateway starts); exit 1 on timeout.
#
#   wait-for-url.sh URL [TIMEOUT_SECONDS]
set -eu
url="${1:?usage: wait-for-url.sh URL [TIMEOUT_SECONDS]}"
timeout="${2:-1800}"
exec python3 - "$url" "$timeout" <<'PY'
import sys, time, urllib.error, urllib.request

url, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
last = "no answer yet"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                sys.exit(0)
            last = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as err:
        last = str(err)
    time.sleep(3)
print(f"wait-for-url: {url} not ready within {timeout:.0f}s ({last})", file=sys.stderr)
sys.exit(1)
PY
