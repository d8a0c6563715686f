# Set-up and entry points. Each target creates .venv if missing and installs what it needs
# (llama-cpp-python builds from source the first time: about 6.5 minutes on 2 cores).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_PROMPT ?= The three largest islands in the world are

.PHONY: run test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[bench]'
	touch $@

install: $(VENV)/.installed

## run: the main job — four variants of one prompt, decoded together in one batch
run: $(VENV)/.installed
	$(BIN)/islands generate "$(DEMO_PROMPT)" --branches 4 --max-tokens 32 --seed 7

## test: the whole test suite (mock-engine tests and short real-model tests)
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## bench: islands vs llama-cpp-python, llama-server and a bare decode loop
bench: $(VENV)/.installed-bench
	$(BIN)/islands bench tree --json

clean:
	rm -rf $(VENV) build src/*.egg-info
