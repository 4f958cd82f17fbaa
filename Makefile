# camdeck: `make run` starts the TUI on the simulated rig; `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.camdeck-installed
EXT_STAMP := fastcore/.carve-built
EXT_SRC := fastcore/_carve.pyx fastcore/_carve_simd.h fastcore/_carve_pool.h fastcore/_carve_vbmi.h fastcore/_carve_gather.h setup.py
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv run test test-lowest services bench fuzz clean

venv: $(STAMP) $(EXT_STAMP)

# torch==2.13.0 goes in first: a CPU wheel of it is at hand, and a bare `torch`
# requirement would otherwise pull several GB of CUDA packages.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet "cython>=3.0" "numpy>=1.24"
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[all,dev]'
	touch $@

# The editable install builds the Cython kernel once; rebuild it whenever its sources change
# (a pulled _carve.pyx must never run against a stale .so).
$(EXT_STAMP): $(STAMP) $(EXT_SRC)
	$(BIN)/python setup.py -q build_ext --inplace
	touch $@

run: venv
	$(BIN)/camdeck tui

# The tests start their own mosquitto and redis-server on free ports; they only need the binaries.
# systemd-analyze (Debian package systemd) verifies the units in deploy/systemd.
services:
	@if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] || ! command -v redis-server >/dev/null \
			|| ! command -v systemd-analyze >/dev/null; then \
		echo "installing mosquitto, redis-server and systemd (Debian packages) for the tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto redis-server systemd >/dev/null; \
	fi

test: venv services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The lower bounds in pyproject.toml, tested: a separate venv with every core dependency pinned
# exactly to its bound (pins generated from pyproject.toml by .ci/lowest_constraints.py), camdeck
# built from a clean copy of the checkout against that numpy, and a fast CLI + TUI smoke subset.
LOWEST := .venv-lowest
LOWEST_TESTS := tests/console/test_cli.py tests/console/test_import_hygiene.py tests/console/test_cli_extras.py \
	tests/console/test_tui_app.py::test_number_keys_switch_tabs_and_nothing_crashes
test-lowest:
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(PYTHON) .ci/lowest_constraints.py pyproject.toml > $(LOWEST)/constraints.txt
	mkdir $(LOWEST)/src && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(LOWEST)/src
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt "setuptools>=77" "cython>=3.0" numpy \
		pytest pytest-timeout
	$(LOWEST)/bin/python -m pip install --quiet --no-build-isolation -c $(LOWEST)/constraints.txt ./$(LOWEST)/src
	$(LOWEST)/bin/python -m pip check
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider $(LOWEST_TESTS)

# The fuzz tests run a short derandomized share inside `make test`; this is the long run.
fuzz: venv services
	CAMDECK_FUZZ=long $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

bench: venv
	$(BIN)/camdeck bench

clean:
	rm -rf $(VENV) $(LOWEST) build *.egg-info fastcore/*.so fastcore/_carve.c $(EXT_STAMP)
