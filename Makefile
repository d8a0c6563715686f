# Set-up and entry points. Each target creates .venv if missing and installs what it needs
# (llama-cpp-python builds from source the first time: about 6.5 minutes on 2 cores).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_QUESTION ?= What is 3 to the power 40?

.PHONY: run test lint bench install clean sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: 2.13.0 is the CPU build that lies on disk here; an unpinned torch
# (asked for by sentence-transformers) would pull several GB of CUDA packages
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[embed,postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[bench]'
	touch $@

install: $(VENV)/.installed

## sandbox: bubblewrap for the PY tool (Debian's package; installed when we are root)
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null)); } || \
	  echo "warning: bubblewrap (bwrap) is not installed; the PY tool and its tests need it"

## run: the main job — `islands ask` on a question that needs exact arithmetic
run: $(VENV)/.installed sandbox
	$(BIN)/islands ask "$(DEMO_QUESTION)"

## test: the whole test suite (mock-engine tests and short real-model tests)
test: $(VENV)/.installed-test sandbox
	$(BIN)/python -m pytest

## lint: ruff (style, imports, likely bugs) on the code and tests, mypy --strict on the package
lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/mypy src/islands

## bench: islands vs llama-cpp-python, llama-server and a bare decode loop
bench: $(VENV)/.installed-bench
	$(BIN)/islands bench tree --json

clean:
	rm -rf $(VENV) build src/*.egg-info
