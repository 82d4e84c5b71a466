#!/bin/sh
# Build a fresh ragtune index from a documents folder and publish it as a new release.
#
#   publish-index.sh DOCS_ROOT PUBLISHED_ROOT
#
# DOCS_ROOT holds one sub-folder per index namespace (docs/acme/..., docs/globex/...); files lying
# directly in DOCS_ROOT go to the "default" namespace. The index is built in a scratch
# RAGTUNE_HOME (its models/ linked to $RAGTUNE_HOME/models), copied to
# PUBLISHED_ROOT/releases/<id>/ and published by swapping the PUBLISHED_ROOT/current symlink in one
# rename, so a replica that copies "current" always gets one whole release. Replicas pick the new
# release up when they restart (kubectl rollout restart deployment/ragtune-gateway).
#
# Single writer: a lock folder (PUBLISHED_ROOT/.publish.lock, atomic mkdir, safe on NFS) refuses a
# second publisher; a crashed run leaves it behind with its host and pid inside; delete it by hand.
# KEEP_RELEASES (default 3) releases are kept besides the current one.
#
# INCREMENTAL=1 starts from the current release instead of an empty index: unchanged files are
# skipped (content hash), changed ones re-embedded, and documents whose file left DOCS_ROOT are
# removed. Use the default full rebuild after changing the embedder or the chunking settings.
set -eu

usage="usage: publish-index.sh DOCS_ROOT PUBLISHED_ROOT"
docs_root="${1:?$usage}"
published_root="${2:?$usage}"
keep="${KEEP_RELEASES:-3}"
incremental="${INCREMENTAL:-0}"
ragtune_bin="${INDEX_CLI:-ragtune}"
home="${RAGTUNE_HOME:?set RAGTUNE_HOME (its models/ folder holds the embedder)}"

fail() { echo "publish-index: $*" >&2; exit 1; }

[ -d "$docs_root" ] || fail "documents folder $docs_root does not exist"
case "$keep" in ''|*[!0-9]*) fail "KEEP_RELEASES must be a whole number, not '$keep'" ;; esac
case "$incremental" in 0|1) ;; *) fail "INCREMENTAL must be 0 or 1, not '$incremental'" ;; esac
mkdir -p "$published_root/releases"

lock="$published_root/.publish.lock"
if ! mkdir "$lock" 2>/dev/null; then
  fail "another publisher holds $lock ($(cat "$lock/owner" 2>/dev/null || echo unknown)); if none runs, remove it"
fi
echo "$(hostname) pid $$ since $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$lock/owner"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/ragtune-publish.XXXXXX")"
release_id="$(date -u +%Y%m%dT%H%M%S.%NZ)"  # GNU date: nanoseconds keep ids ordered
staging="$published_root/releases/.$release_id.partial"
cleanup() { rm -rf "$scratch" "$staging" "$lock"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -d "$home/models" ] && ln -s "$home/models" "$scratch/models"
if [ "$incremental" = 1 ] && [ -e "$published_root/current" ]; then
  base_release="$(cd -P "$published_root/current" && pwd)"
  mkdir -p "$scratch/index"
  cp -R "$base_release/." "$scratch/index/"
  rm -f "$scratch/index/PUBLISHED-STATS.txt"
  echo "publish-index: starting from release $(basename "$base_release")" >&2
fi

# index every namespace into the scratch home (never into a live index)
indexed=0
index_add() {  # index_add NAMESPACE PATH...
  namespace="$1"; shift
  echo "publish-index: indexing $* into namespace '$namespace'" >&2
  RAGTUNE_HOME="$scratch" RAGTUNE_INDEX__READ_ONLY=false "$ragtune_bin" index add --namespace "$namespace" "$@"
  indexed=$((indexed + 1))
}
for entry in "$docs_root"/*; do
  [ -e "$entry" ] || continue
  if [ -d "$entry" ]; then
    index_add "$(basename "$entry")" "$entry"
  else
    index_add default "$entry"
  fi
done
[ "$indexed" -gt 0 ] || fail "nothing to index in $docs_root"
[ -d "$scratch/index" ] || fail "'$ragtune_bin index add' left no index in $scratch/index"

if [ "$incremental" = 1 ]; then
  # documents whose file is gone from DOCS_ROOT: "NAMESPACE DOC_ID..." per line
  RAGTUNE_HOME="$scratch" "$ragtune_bin" index list --json > "$scratch/documents.json"
  python3 - "$scratch/documents.json" "$docs_root" > "$scratch/stale.txt" <<'PY'
import json, os, sys
documents = json.load(open(sys.argv[1], encoding="utf-8"))["documents"]
root = os.path.abspath(sys.argv[2]) + os.sep
stale = {}
for doc in documents:
    source = os.path.abspath(doc.get("source") or "")
    if source.startswith(root) and not os.path.exists(source):
        stale.setdefault(doc["namespace"], []).append(doc["doc_id"])
for namespace, doc_ids in sorted(stale.items()):
    print(namespace, *doc_ids)
PY
  while read -r namespace doc_ids; do
    echo "publish-index: removing from '$namespace' documents whose file is gone: $doc_ids" >&2
    # shellcheck disable=SC2086  # doc ids are hex words, split on purpose
    RAGTUNE_HOME="$scratch" RAGTUNE_INDEX__READ_ONLY=false "$ragtune_bin" index remove --namespace "$namespace" $doc_ids
  done < "$scratch/stale.txt"
  rm -f "$scratch/documents.json" "$scratch/stale.txt"
fi

RAGTUNE_HOME="$scratch" "$ragtune_bin" index stats > "$scratch/index/PUBLISHED-STATS.txt" 2>&1 || true

# copy, then rename: releases/<id> only ever appears complete
cp -R "$scratch/index" "$staging"
mv "$staging" "$published_root/releases/$release_id"
ln -s "releases/$release_id" "$published_root/.current.$release_id"
mv -T "$published_root/.current.$release_id" "$published_root/current"
echo "publish-index: published release $release_id at $published_root/current" >&2

# prune: keep the current release and the newest $keep others
current_target="$(readlink "$published_root/current")"
find "$published_root/releases" -mindepth 1 -maxdepth 1 -type d ! -name ".*" -exec basename {} \; |
  sort -r | while read -r old; do
  [ "releases/$old" = "$current_target" ] && continue
  if [ "$keep" -gt 0 ]; then keep=$((keep - 1)); continue; fi
  rm -rf "${published_root:?}/releases/$old"
done
echo "$release_id"
