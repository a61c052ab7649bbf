#!/usr/bin/env bash
# `make test-install`: the package as a Python user installs it, with every extra, in a fresh virtual
# environment and nothing repaired afterwards (no setup-venv.sh): `mmer check` must pass, the weights
# must fetch, the default model must answer a clip and the service must import.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
FRESH=$(realpath -m "${FRESH_VENV:-build/fresh-venv}")
EXTRAS=$(sed -n '/^\[project.optional-dependencies\]/,/^\[/p' pyproject.toml | sed -n 's/^\([a-z][a-z0-9_-]*\) = \[.*/\1/p' | paste -sd, -)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf "$FRESH"
"$PYTHON" -m venv "$FRESH"
echo "fresh venv $FRESH: pip install -e \".[$EXTRAS]\""
# Some machines' pip configuration lists local package folders that warn on every look-up; drop that noise.
"$FRESH/bin/python" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
"$FRESH/bin/python" -m pip check
"$FRESH/bin/python" - <<'PY'
import importlib.metadata as md

import cv2

names = ("torch", "opencv-python-headless", "opencv-python", "ultralytics")
found = [f"{n} {md.version(n)}" for n in names if any(d.metadata["Name"] == n for d in md.distributions())]
print("resolved:", ", ".join(found), "| cv2", cv2.__version__)
PY
export MMER_CACHE_DIR="$work/cache" YOLO_CONFIG_DIR="$work/yolo" YOLO_OFFLINE=1 HF_HUB_OFFLINE=1
"$FRESH/bin/mmer" weights fetch
"$FRESH/bin/mmer" check
"$FRESH/bin/mmer" sample-clip "$work/clip.mp4" --emotion HAP --seconds 2
"$FRESH/bin/mmer" predict "$work/clip.mp4" --json > "$work/answer.json"
"$FRESH/bin/python" - "$work/answer.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
assert answer["model"]["kind"] == "default", answer["model"]
assert "video" in answer["modalities"]["used"], answer["modalities"]
print("default model answered:", answer["emotion"], "from", " and ".join(answer["modalities"]["used"]))
PY
(cd "$work" && "$FRESH/bin/python" -c "import mmer_api.main; print('service importable from', mmer_api.main.__file__)")
echo "fresh install ok"
