PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-slow bench browser clean gpu-check gpu-wheels

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

# For a lent CUDA machine (bare, offline, its own Python 3.12 + PyTorch): the wheels it lacks, downloaded
# here into an ignored folder that travels with the working tree; `gpu-check` installs the missing ones.
GPU_WHEELS := var/gpu-wheels
GPU_WHEEL_PACKAGES := pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection typing-extensions \
	diffusers importlib-metadata zipp regex filelock requests certifi idna urllib3 charset-normalizer pillow \
	pyautoattack==0.2.0
GPU_PYTHON ?= python3
GPU_CHECK_OUT ?= var/gpu-check

gpu-wheels: install
	mkdir -p $(GPU_WHEELS)
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
		--implementation cp --abi cp312 --abi abi3 --abi none -d $(GPU_WHEELS) $(GPU_WHEEL_PACKAGES)
	$(BIN)/python -m app.gpu_check --slim-wheels
	@du -sh $(GPU_WHEELS)

# Everything the CPU never runs, in one command on a CUDA machine (under 8 minutes on one modern GPU):
# gpu tests, both benchmarks on CUDA, a ResNet-18 TASER+TRADES run with the score cache, AutoAttack.
gpu-check:
	GPU_CHECK_OUT=$(GPU_CHECK_OUT) $(GPU_PYTHON) -m app.gpu_check --out $(GPU_CHECK_OUT)

clean:
	rm -rf $(VENV) build *.egg-info
