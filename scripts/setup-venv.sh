#!/usr/bin/env bash
# Create or update the project's virtual environment (used by `make run` and `make test`).
# Safe to re-run; everything comes from PyPI (no model hub, no GitHub downloads).
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev,yolo,serve}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
# Some machines' pip configuration lists local package folders that warn on every look-up; drop that noise.
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

# torch and torchvision must be a matching pair; this pair is the newest our CI machines carry.
quiet "${pip[@]}" install -q "torch==2.14.1" "torchvision==0.29.1"
quiet "${pip[@]}" install -q -e ".[${EXTRAS}]"

# ultralytics pulls in opencv-python (the GUI build: needs libGL, and version 5 has no Haar cascades).
# Both wheels install the same `cv2` package. The project's own venv keeps only the headless 4.x build,
# so that the Haar fallback (`--detector opencv`) is tested too; a plain `pip install` works without
# this (checked by scripts/test-install.sh), with the Haar detector reported unavailable.
if "${pip[@]}" show -q opencv-python >/dev/null 2>&1; then
    quiet "${pip[@]}" uninstall -q -y opencv-python
    quiet "${pip[@]}" install -q --force-reinstall --no-deps "opencv-python-headless>=4.8,<5"
fi
"$VENV/bin/python" -c "import cv2; assert cv2.__version__ < '5' and hasattr(cv2, 'CascadeClassifier'), cv2.__version__"
echo "environment ready: $VENV"
