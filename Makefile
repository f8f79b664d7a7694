# Two commands for a newcomer: `make run` and `make test`. Both install what is missing first.
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3
FUZZ_SECONDS ?= 20

.PHONY: all setup build run test unit e2e fuzz fuzz-build fuzz-smoke sanitize container-test clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: setup $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/exfilwatch run

unit: build
	cd $(BUILD) && ctest --output-on-failure
	$(PYTHON) tests/tools/validate_ndjson.py $(BUILD)/ecs_samples.ndjson
	$(PYTHON) tests/tools/validate_ndjson.py --expect-invalid $(BUILD)/ecs_samples_invalid.ndjson
	scripts/validate-manifests

e2e: build
	$(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/e2e

# Docker-based tests (dockerd, a locally imported base image); not yet part of `make test`.
container-test: build
	scripts/docker-base-image
	$(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/container

# The unit tests once more under ASan+UBSan: the clang build that also holds the fuzz targets
# (everything in it is built with -fsanitize=address,undefined).
sanitize: fuzz-build
	cd $(FUZZ_BUILD) && ctest --output-on-failure

$(FUZZ_BUILD)/Makefile:
	cmake -S . -B $(FUZZ_BUILD) -DEXFILWATCH_BPF=OFF -DEXFILWATCH_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null

fuzz-build: setup $(FUZZ_BUILD)/Makefile
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Every fuzz target for FUZZ_SECONDS on a copy of its seed corpus (`make fuzz FUZZ_SECONDS=600`).
fuzz: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) 10

test: build unit sanitize fuzz-smoke e2e

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
