# `make repro` and `make test` are the whole set-up on a fresh machine (see README.md).
VENV ?= .venv
PYTHON ?= python3
DATASET_DIR := /usr/share/datasets/fashion-mnist

# DVC runs each stage's `python -m stages.X` through the shell: put the venv first.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# A failing `dvc stage list` must stop `make pipeline`, not feed xargs nothing.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: repro pipeline verify reference reference-runs test test-quick lint setup lock offline-plots data bench check-pr clean

repro: setup data  ## create .venv, install the lock, run the whole pipeline, judge the run
	@$(MAKE) --no-print-directory pipeline
	@$(MAKE) --no-print-directory verify

# The pipeline on every core, with DVC's own parallel stage execution. What every model reads runs
# first; then each model is one arm, `dvc repro --single-item train_<model> evaluate_<model>` (its
# training, then its evaluation), as many arms at once as there are cores. DVC releases its repo lock
# while a stage's command runs and --wait-for-lock makes the others queue for it; --single-item keeps
# each arm off the stages the arms share (DVC's per-file locks fail at once, not wait, when two
# processes check the same stage). Arms start from the last variant in params.yaml, where the larger
# networks sit, so that the longest is not left running alone at the end. A last plain `dvc repro`
# runs the rest (Part 1, the sample figures, the report) and checks that nothing is out of date.
# REPRO_FLAGS=--pull: a stage found in the run-cache fetches its outputs from the remote (make check-pr).
NPROC ?= $(shell nproc)
REPRO_FLAGS ?=
pipeline:
	dvc --wait-for-lock repro $(REPRO_FLAGS) preprocess
	dvc stage list --name-only | sed -n 's/^train_\(.*\)/train_\1 evaluate_\1/p' | tac | \
		xargs -r -L 1 -P $(NPROC) dvc --wait-for-lock repro $(REPRO_FLAGS) --single-item
	dvc --wait-for-lock repro $(REPRO_FLAGS)

# Did this run reproduce the committed one? Per line: identical, within the reference's interval, OUTSIDE, or
# not judged (an experiment) or not reproduced (run make repro). `python -m ci.verify` exits 1 on OUTSIDE, 2 before
# any run, else 0; make turns either failure into its own status 2, and its error line keeps ci.verify's
# ("[Makefile:NN: verify] Error 1"): CI that needs the difference runs `python -m ci.verify` itself.
verify:
	python -m ci.verify

# The reference distribution (reference/dvc.yaml, a DVC project of its own; not part of `make repro`): every
# model retrained on each of `reference.seeds`, as many runs at once as there are cores, then their summary.
# Seed by seed, so that a study cut off half-way has every model's first seeds. Runs already recorded in git
# (reference/runs, reference/dvc.lock) are skipped, so a cut-off study resumes.
# ONLY narrows it to the run stages whose names match an extended regex: ONLY='@(base|dropout)-' or ONLY='-4[2-6]$'.
ONLY ?= .
reference: setup data
	@$(MAKE) --no-print-directory reference-runs

reference-runs:
	dvc --wait-for-lock repro preprocess
	cd reference && dvc stage list --name-only | grep '^run_' | grep -E -- '$(value ONLY)' | \
		sed 's/.*[@-]\([0-9]*\)$$/\1 &/' | sort -n -s -k1,1 | cut -d' ' -f2 | \
		xargs -r -L 1 -P $(NPROC) dvc --wait-for-lock repro --single-item
	cd reference && dvc --wait-for-lock repro --single-item summary

test: setup data lint  ## create .venv, install the lock, check the code's style, run the tests
	python -m pytest

# The unit tests alone: no dataset, no pipeline run, no SSH server (tests/conftest.py marks the others).
test-quick: setup lint
	python -m pytest -m "not integration"

lint:  ## ruff, configured in pyproject.toml: lint errors and unformatted files fail `make test`
	ruff check --quiet .
	ruff format --check --quiet .

setup: $(VENV)/.installed offline-plots

# requirements.txt is the lock (every package, with its hashes), generated from requirements.in by
# `make lock`. pip installs only uv, by its locked hashes; uv then makes .venv hold exactly the lock.
# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) Python would otherwise
# compile the sources again in every process: importing TensorFlow took 14 s instead of 7 (measured).
# REQUIREMENTS=requirements-gpu.txt installs the GPU lock instead (docs/sharing.md): never by itself.
REQUIREMENTS ?= requirements.txt
$(VENV)/.installed: $(REQUIREMENTS) .python-version
	@$(PYTHON) -c 'import sys; want = open(".python-version").read().strip(); have = "%d.%d" % sys.version_info[:2]; \
		sys.exit(0 if have == want else f"error: $(PYTHON) is Python {have}; .python-version asks for {want} (make PYTHON=python{want})")'
	$(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p = 1; print; next} p && /^ / {print; next} {p = 0}' $(REQUIREMENTS) > $(VENV)/uv.lock.txt
	$(VENV)/bin/pip install --quiet --no-deps --require-hashes -r $(VENV)/uv.lock.txt
	$(VENV)/bin/uv pip sync --quiet --compile-bytecode --require-hashes --python $(VENV)/bin/python $(REQUIREMENTS)
	touch $@

# Re-lock after editing requirements.in; `make lock UPGRADE=keras` moves one package (docs/development.md).
# Pins already in the lock stay unless requirements.in or UPGRADE asks otherwise. The GPU lock follows:
# requirements.in with TensorFlow's CUDA build for tensorflow-cpu, every other package held at the CPU lock's pin.
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" \
	--python-version $$(cat .python-version) --python-platform x86_64-manylinux_2_28
LOCK ?= requirements.txt
GPU_LOCK ?= requirements-gpu.txt
lock: $(VENV)/.installed
	$(UV_COMPILE) requirements.in -o $(LOCK) $(if $(UPGRADE),--upgrade-package $(UPGRADE))
	{ grep -v '^tensorflow-cpu==' requirements.in; sed -n 's/^tensorflow-cpu==/tensorflow[and-cuda]==/p' requirements.in; } | \
		$(UV_COMPILE) - -c $(LOCK) -o $(GPU_LOCK)

# Offline `dvc plots` pages: vega, vega-lite and vega-embed, pinned in package-lock.json, inlined
# into a page template that .dvc/config.local names (see .dvc/offline-plots/build.py).
# Without npm the pipeline still runs; the pages then load those libraries from the CDN.
OFFLINE_PLOTS := .dvc/offline-plots
ifeq ($(shell command -v npm),)
offline-plots:
	@[ -f $(OFFLINE_PLOTS)/offline.html ] || echo "warning: npm not found: dvc plots pages will need internet to draw charts (install Node.js and npm, then run make setup again)" >&2
else
offline-plots: $(OFFLINE_PLOTS)/offline.html
	@grep -qs 'offline-plots/offline.html' .dvc/config.local || $(VENV)/bin/python $(OFFLINE_PLOTS)/build.py
endif

$(OFFLINE_PLOTS)/node_modules/.package-lock.json: $(OFFLINE_PLOTS)/package.json $(OFFLINE_PLOTS)/package-lock.json
	npm ci --prefix $(OFFLINE_PLOTS) --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(OFFLINE_PLOTS)/offline.html: $(OFFLINE_PLOTS)/node_modules/.package-lock.json $(OFFLINE_PLOTS)/build.py | $(VENV)/.installed
	$(VENV)/bin/python $(OFFLINE_PLOTS)/build.py

# Offline Debian machines get the real data from Debian's archive; elsewhere the
# download stage falls back to the official mirrors, so a failure here is not fatal.
data:
	@if [ -z "$$FASHION_MNIST_DIR" ] && [ ! -d $(DATASET_DIR) ] && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		echo "installing Debian's dataset-fashion-mnist"; \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; } \
			|| echo "could not install dataset-fashion-mnist; the download stage will try the mirrors"; \
	fi

# What CI runs on a pull request (.github/workflows/check-pr.yml): set up, then ci/check-pr, which pulls
# from the team's DVC remote, reproduces what the change touches and writes $(COMMENT) for the review.
BASE ?= origin/main
COMMENT ?= pr-comment.md
check-pr: setup
	ci/check-pr $(BASE) $(COMMENT)

bench: setup data  ## time the pipeline against bare Keras, and what a second core gives (see benchmarks/)
	python -m benchmarks.run
	python -m benchmarks.two_processes

clean:
	rm -rf $(VENV)
