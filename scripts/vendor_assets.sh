#!/usr/bin/env bash
# Vendor the console's JavaScript from the npm registry, pinned, with each package's licence.
#
# The console must run with no network and no build step at install time, so the dist
# files are committed under datavc/server/console/static/vendor/. Re-run this script
# (it needs npm) only to change a pin; review and commit the result.
set -euo pipefail

# name@version  dist-file-inside-the-package
PINS=(
  "cytoscape@3.35.0 dist/cytoscape.min.js"
  "dagre@0.8.5 dist/dagre.min.js"
  "cytoscape-dagre@2.5.0 cytoscape-dagre.js"
  "axe-core@4.10.3 axe.min.js"
)

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/datavc/server/console/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$dest"
for pin in "${PINS[@]}"; do
  read -r spec file <<<"$pin"
  name="${spec%@*}"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tarball="$(ls "$tmp"/"${name}"-*.tgz)"
  mkdir -p "$tmp/$name"
  tar -xzf "$tarball" -C "$tmp/$name"
  rm -f "$tarball"
  pkg="$tmp/$name/package"
  mkdir -p "$dest/$name"
  cp "$pkg/$file" "$dest/$name/$(basename "$file")"
  lic="$(ls "$pkg" | grep -iE '^(licen[cs]e|copying)' | head -1 || true)"
  if [ -z "$lic" ]; then
    echo "error: $spec ships no LICENSE file" >&2
    exit 1
  fi
  cp "$pkg/$lic" "$dest/$name/LICENSE"
  echo "$spec" >"$dest/$name/VERSION"
  echo "vendored $spec ($file, $lic)"
done
