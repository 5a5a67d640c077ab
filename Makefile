# Developer entry points. The README's two commands are scripts/demo and scripts/test.
DEBIAN_PY := /usr/bin/python3
VENV_PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: test test-debian test-venv unit lint deb bench fleet fuzz demo clean systemvm systemvm-shell

test:            ## everything: set up, then the suite under both interpreters
	./scripts/test

test-debian:     ## the suite under Debian's python3 and python3-* packages
	$(DEBIAN_PY) -m pytest $(PYTEST_ARGS)

test-venv:       ## the suite under the venv with the newest PyPI releases
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

unit:            ## fast tests only, no root or daemons needed
	$(DEBIAN_PY) -m pytest tests/unit $(PYTEST_ARGS)

lint:            ## ruff and mypy, as scripts/test runs them (settings in pyproject.toml)
	.venv/bin/ruff check .
	.venv/bin/mypy

deb:             ## build the Debian package into dist/
	./scripts/build-deb

bench:           ## benchmarks; writes docs/benchmarks.md
	$(DEBIAN_PY) -m tests.bench

fleet:           ## N routers (daemons, node_exporters) and one Prometheus; writes docs/benchmarks.md's fleet section
	flock /tmp/vrm-daemons.lock $(DEBIAN_PY) -m tests.fleet $(FLEET_ARGS)

fuzz:            ## the fuzzers with a long budget (CI runs them with a short one)
	VRMONITOR_FUZZ_PROFILE=long $(DEBIAN_PY) -m pytest tests/fuzz $(PYTEST_ARGS)

demo:
	./scripts/demo

systemvm:        ## the system VM tests: a Debian 12 guest with systemd as PID 1 (needs dist/*.deb)
	$(DEBIAN_PY) -m pytest -p no:cacheprovider tests/systemvm $(PYTEST_ARGS)

systemvm-shell:  ## a shell inside a booted, laid-out router guest; torn down when it exits
	$(DEBIAN_PY) -m tests.systemvm.shell

clean:
	rm -rf build dist .pybuild *.egg-info .pytest_cache .mypy_cache .ruff_cache
