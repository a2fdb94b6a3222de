# `make repro` and `make test` are the whole set-up on a fresh machine (see README.md).
VENV ?= .venv
PYTHON ?= python3
DATASET_DIR := /usr/share/datasets/fashion-mnist

# DVC runs each stage's `python -m stages.X` through the shell: put the venv first.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: repro test setup data bench clean

repro: setup data  ## create .venv, install the pins, run the whole pipeline
	dvc repro

test: setup data  ## create .venv, install the pins, run the tests
	python -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# Offline Debian machines get the real data from Debian's archive; elsewhere the
# download stage falls back to the official mirrors, so a failure here is not fatal.
data:
	@if [ -z "$$FASHION_MNIST_DIR" ] && [ ! -d $(DATASET_DIR) ] && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		echo "installing Debian's dataset-fashion-mnist"; \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; } \
			|| echo "could not install dataset-fashion-mnist; the download stage will try the mirrors"; \
	fi

bench: setup data  ## time the pipeline against bare Keras (see benchmarks/)
	python -m benchmarks.run

clean:
	rm -rf $(VENV)
