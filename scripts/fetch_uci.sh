#!/usr/bin/env bash
# Fetch the preprocessed UCI 121-collection (Fernández-Delgado et al., JMLR 2014) into a folder
# that `data=uci` reads (paths.uci_dir / NVK_UCI_DIR). The same archive Arora et al. (ICLR 2020)
# download in their UCI code. The data is never committed to this repository.
#
#   scripts/fetch_uci.sh [DEST]                     download, extract into DEST
#   scripts/fetch_uci.sh --archive data.tar.gz DEST  use an archive you already have (offline)
#
# DEST defaults to $NVK_UCI_DIR, else ../shared/data/uci next to this repository.
# Afterwards: python train.py data=uci paths.uci_dir=DEST data.name=iris
set -euo pipefail

URL="${NVK_UCI_URL:-http://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARCHIVE=""
if [[ "${1:-}" == "--archive" ]]; then
  ARCHIVE="${2:?--archive needs a file}"
  shift 2
fi
DEST="${1:-${NVK_UCI_DIR:-$REPO/../shared/data/uci}}"

if [[ -f "$DEST/iris/iris.txt" ]]; then
  echo "fetch_uci: $DEST already holds the collection (iris/iris.txt found); nothing to do"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [[ -z "$ARCHIVE" ]]; then
  ARCHIVE="$TMP/data.tar.gz"
  echo "fetch_uci: downloading $URL"
  if command -v curl >/dev/null; then
    curl -fL --retry 3 -o "$ARCHIVE" "$URL"
  else
    wget -O "$ARCHIVE" "$URL"
  fi
fi
[[ -f "$ARCHIVE" ]] || { echo "fetch_uci: archive $ARCHIVE not found" >&2; exit 1; }

mkdir -p "$TMP/x"
tar -xzf "$ARCHIVE" -C "$TMP/x"
# the dataset folders (<name>/<name>.txt) sit below whatever top folder the archive uses
SRC=""
while IFS= read -r f; do
  d="$(dirname "$f")"
  if [[ "$(basename "$f")" == "$(basename "$d").txt" ]]; then SRC="$(dirname "$d")"; break; fi
done < <(find "$TMP/x" -mindepth 2 -maxdepth 4 -type f -name '*.txt' | sort)
[[ -n "$SRC" ]] || { echo "fetch_uci: no <name>/<name>.txt dataset folder in $ARCHIVE" >&2; exit 1; }

mkdir -p "$DEST"
cp -R "$SRC"/. "$DEST"/
N=0
B=0
for d in "$DEST"/*/; do
  meta="$d/$(basename "$d").txt"
  if [[ -f "$meta" ]]; then
    N=$((N + 1))
    # the benchmark of Arora et al.: n_patrons1 <= 5000 and no separate test file (fich2)
    if awk -F'= *' '$1=="n_patrons1"{n=$2} $1=="fich2"{t=1} END{exit !(n<=5000 && !t)}' "$meta"
    then B=$((B + 1)); fi
  fi
done
echo "fetch_uci: $N dataset folders in $DEST, $B in the benchmark (n <= 5000, no test file)"
