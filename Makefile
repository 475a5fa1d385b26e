PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/taser dashboard

test: install browser
	$(BIN)/python -m pytest -q

# Debian chromium for the dashboard's browser test (Playwright drives it; no browser download).
# Installed only when missing; failure is ignored and the browser test then skips, saying why.
browser:
	-@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "note: could not install chromium; the browser test will be skipped"

test-slow: install
	$(BIN)/python -m pytest -q -m "slow"

bench: install
	$(BIN)/taser bench overhead --quick --json benchmarks/results/overhead.json

clean:
	rm -rf $(VENV) build *.egg-info
