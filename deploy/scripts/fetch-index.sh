#!/bin/sh
# Copy the published index release into this replica's own index folder (a gateway init step).
#
#   fetch-index.sh PUBLISHED_ROOT DEST
#
# PUBLISHED_ROOT/current is the symlink publish-index.sh swaps; it is resolved once, so a publish
# that happens while this copies cannot mix two releases. DEST (e.g. $RAGTUNE_HOME/index, an
# emptyDir) is emptied first. With nothing published yet the replica starts with an empty index
# unless REQUIRE_INDEX=1.
set -eu

usage="usage: fetch-index.sh PUBLISHED_ROOT DEST"
published_root="${1:?$usage}"
dest="${2:?$usage}"

if [ ! -e "$published_root/current" ]; then
  if [ "${REQUIRE_INDEX:-0}" = 1 ]; then
    echo "fetch-index: no index is published under $published_root (run the index Job first)" >&2
    exit 1
  fi
  echo "fetch-index: no index published under $published_root yet; starting with an empty index" >&2
  mkdir -p "$dest"
  exit 0
fi
release="$(cd -P "$published_root/current" && pwd)"
mkdir -p "$dest"
find "$dest" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp -R "$release/." "$dest/"
echo "fetch-index: $dest now holds release $(basename "$release")" >&2
