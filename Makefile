# gnm_nav developer commands. `make test` installs everything it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): requirements.txt setup.py package.xml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q test

demo: install
	$(BIN)/gnm-nav demo

bench: install
	mkdir -p out
	$(BIN)/gnm-nav bench policy --out out/bench_policy.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
