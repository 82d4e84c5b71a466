#!/bin/sh
# Wait until a file exists (e.g. a provisioned model's manifest), then exit 0; exit 1 on timeout.
#
#   wait-for-file.sh PATH [TIMEOUT_SECONDS]
set -eu
path="${1:?usage: wait-for-file.sh PATH [TIMEOUT_SECONDS]}"
timeout="${2:-1800}"
waited=0
until [ -e "$path" ]; do
  if [ "$waited" -ge "$timeout" ]; then
    echo "wait-for-file: $path did not appear within ${timeout}s" >&2
    exit 1
  fi
  [ $((waited % 60)) -eq 0 ] && echo "wait-for-file: waiting for $path" >&2
  sleep 5
  waited=$((waited + 5))
done
