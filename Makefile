# duodiag: the two entry points a newcomer needs, plus the build steps they rest on.
#   make demo   install what is missing, build, run the default scenario suite, print the report
#   make test   install what is missing, build (normal and ASan+UBSan), run every test
#   make scenarios  the whole scenario library but the soak runs (CI runs it after make test)
#   make soak   the soak scenarios (several minutes each)
.PHONY: all bootstrap build build-asan build-fuzz demo test test-fast scenarios soak install clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_OUT   ?= runs/demo

all: build

bootstrap:
	@bash scripts/bootstrap.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: bootstrap $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Sanitizer build: clang with ASan + UBSan; its fuzz targets are real libFuzzer binaries.
$(ASAN_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDD_SANITIZE=ON -DDD_FUZZ=ON

build-asan: bootstrap $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD) $(DEMO_OUT)

test: build build-asan
	@bash scripts/test.sh $(BUILD) $(ASAN_BUILD)

scenarios: build
	@bash scripts/scenarios.sh $(BUILD) runs/library 'not soak'

soak: build
	@bash scripts/scenarios.sh $(BUILD) runs/soak soak

# The normal build's tests only (quick local iteration).
test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
