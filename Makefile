# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a step they depend on.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
PIP       := $(BIN)/python -m pip
# torch is pinned to the CPU build present on the machine; without the pin pip pulls the CUDA build.
PIP_FLAGS := --disable-pip-version-check -q -c constraints.txt --find-links /opt/wheels

.PHONY: install demo test lint sandbox-deps bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) -e '.[torch,hf,ray,train,track,exit,inspect,lm-eval,dev]'
	touch $(STAMP)

# bubblewrap gives the sandbox its namespaces; without it the sandbox falls back to weaker isolation.
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq bubblewrap >/dev/null; }

# lint-imports: the layers and the command-line boundary of [tool.importlinter] in pyproject.toml.
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache

# The suite runs on TEST_WORKERS processes (pytest-xdist; a test file stays on one), then the serial tests alone.
TEST_WORKERS ?= auto
test: install sandbox-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not serial" --durations=15
	$(BIN)/python -m pytest -q -p no:cacheprovider -m serial

# `make demo PRETRAIN=1` pretrains the micro base here (about 35 min) instead of using the committed one.
demo: install sandbox-deps
	$(BIN)/selfevolve demo $(if $(PRETRAIN),--pretrain)

# Every benchmark, each printing its ratio against a baseline measured in the same run (~6 minutes).
bench: install sandbox-deps
	$(PIP) install $(PIP_FLAGS) -e '.[bench]'
	test -f demo-out/bench/tasks/train.jsonl || $(BIN)/selfevolve demo
	$(BIN)/python benchmarks/build_time.py
	$(BIN)/python benchmarks/doc_examples.py --bench demo-out/bench
	$(BIN)/python benchmarks/sandbox_throughput.py --bench demo-out/bench
	$(BIN)/python benchmarks/tasks_time.py demo-out/bench
	$(BIN)/python benchmarks/harness_overhead.py demo-out/bench
	$(BIN)/python benchmarks/hf_batching.py demo-out/bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache demo-out
