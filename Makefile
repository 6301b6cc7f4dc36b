# gnm_nav developer commands. `make test` installs everything it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1
# The real `ros2 launch` tier: launch, launch_ros and ros2cli from ../shared/ros2_tooling in a venv layered over
# $(VENV), and the package built by colcon as on a robot. Where the tooling is absent its tests skip.
TOOLING := ../shared/ros2_tooling
TIER := build/launch-tier
TIER_STAMP := $(TIER)/.built

.PHONY: install launch-tier lint test test-fast demo bench clean

install: $(STAMP)

$(STAMP): requirements.txt setup.py package.xml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

launch-tier: install
	@if [ -f $(TOOLING)/install.sh ]; then $(MAKE) --no-print-directory $(TIER_STAMP); \
	else echo "launch tier skipped: no $(TOOLING) (its tests skip, saying so)"; fi

$(TIER_STAMP): $(STAMP) tools/launch_tier.sh setup.py setup.cfg package.xml $(wildcard launch/*.py config/*.yaml config/*/*.yaml models/* gnm_nav/*.py gnm_nav/*/*.py)
	bash tools/launch_tier.sh $(VENV) $(TIER) $(TOOLING)
	touch $@

# ruff (ruff.toml) over the package, tests, launch files and tools; mypy (mypy.ini) over the ROS-free core
lint: install
	$(BIN)/ruff check gnm_nav test launch tools
	$(BIN)/mypy

test: install launch-tier lint
	$(BIN)/python -m pytest -q test

# the quick tier while iterating: the ROS-free unit tests (no DDS, no processes, no closed loops), then lint
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" test
	$(MAKE) --no-print-directory lint

demo: install
	$(BIN)/gnm-nav demo

bench: install
	mkdir -p out
	$(BIN)/gnm-nav bench policy --out out/bench_policy.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
