# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint bench baseline tutorial clean install browser

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian's chromium for the explorer's browser tests (Playwright drives it; it never downloads one)
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

install: $(STAMP) browser

demo: $(STAMP) browser
	$(BIN)/credsim run scenarios/demo.toml -o runs/demo
	@echo "Report: runs/demo/report.html"

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/credsim compile  # the kernels, in parallel processes, before the tests load them
	CREDSIM_REQUIRE_BROWSER=1 $(BIN)/python -m pytest  # the browser tests fail, not skip, without chromium

# rewrite the exact baselines on purpose (a change meant to change results)
baseline: $(STAMP)
	$(BIN)/python tests/baseline.py --update

# rerun every command the tutorial shows and rewrite its pasted outputs (about half an hour)
tutorial: $(STAMP)
	$(BIN)/python docs/tutorial_outputs.py

bench: $(STAMP)
	$(BIN)/python benchmarks/points_v2.py

clean:
	rm -rf $(VENV) runs .pytest_cache
