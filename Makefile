# Two entry points: `make demo` (main job) and `make test` (the test suite). Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow reproduce-quick reproduce clean postgres-binaries

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch pinned to the CPU build on this machine's disk; pyproject.toml only sets a lower bound
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/amem demo

# The paper's results (experiments/README.md): quick = under 10 minutes, results under runs/reproduce-quick/results;
# full = the committed tables, figures and shipped networks (hours on 2 cores; stop and rerun to resume).
reproduce-quick: $(STAMP)
	$(BIN)/python -m experiments.reproduce --profile quick

reproduce: $(STAMP)
	$(BIN)/python -m experiments.reproduce --profile full --ship
	$(BIN)/python -m experiments.real_data.grid  # real data under the deployment protocol: the shipped fewshot-best

# PostgreSQL server binaries (Debian's postgresql package) for tests/test_bank.py, which starts its
# own server in a temporary directory; where they cannot be installed, those tests skip and say why.
postgres-binaries:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (command -v apt-get >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1) || \
	  echo "note: no PostgreSQL server binaries (apt-get install postgresql); the PostgreSQL bank tests will skip"

# -rs: every skipped test is listed with its reason
test: $(STAMP) postgres-binaries
	$(BIN)/python -m pytest -q -rs

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m slow

clean:
	rm -rf $(VENV) runs
