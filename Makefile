# Two commands for a newcomer: `make run` and `make test`. Both install what is missing first.
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3
FUZZ_SECONDS ?= 20

.PHONY: all setup build run test lint unit e2e fuzz fuzz-build fuzz-smoke sanitize container-test image clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: setup $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/exfilwatch run

# Format (.clang-format) and lint (.clang-tidy, over the build's compile_commands.json).
lint: build
	scripts/lint $(BUILD)

unit: build
	cd $(BUILD) && ctest --output-on-failure
	$(PYTHON) tests/tools/validate_ndjson.py $(BUILD)/ecs_samples.ndjson
	$(PYTHON) tests/tools/validate_ndjson.py --expect-invalid $(BUILD)/ecs_samples_invalid.ndjson
	$(PYTHON) tests/tools/check_ecs.py --require-kinds alert,event,metric,state $(BUILD)/ecs_samples.ndjson
	$(PYTHON) tests/tools/check_ecs.py --expect-invalid $(BUILD)/ecs_samples_not_ecs.ndjson
	$(PYTHON) tests/tools/check_index_template.py $(BUILD)/ecs_samples.ndjson
	scripts/validate-manifests
	tests/deploy/test-validate.sh

e2e: build
	$(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/e2e

# Docker tests (root, real BPF): a container's upload is named by its full id, and the monitor
# runs from its image with deploy/daemonset.yaml's settings. The fixtures start dockerd when it
# is not running and import their two images in seconds (scripts/docker-base-image --test).
container-test: build
	$(PYTHON) -m pytest -c tests/e2e/pytest.ini tests/container

# The deploy image from deploy/Dockerfile (multi-stage, offline: the local build-base image is
# debootstrapped on first use, a few minutes).
image:
	scripts/docker-base-image --build-only >/dev/null
	docker build --build-arg BASE=exfilwatch-build-base:bookworm -f deploy/Dockerfile -t exfilwatch:0.1.0 .

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

test: build lint unit sanitize fuzz-smoke e2e container-test

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
