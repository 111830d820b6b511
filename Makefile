# The README's commands. Each target installs missing dependencies first.
#   make demo       build and run the persistence demonstration
#   make test       build and run every test (ctest)
#   make test-asan  unit tests and the allocator (transient) under ASan + UBSan
#   make bench      benchmarks (long; results in build/bench/)
#   make build      just build (build/bin, build/lib)

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-asan bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	scripts/demo.sh $(BUILD)

# Long torture and benchmark runs carry the label "long" and are left out here.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPALLOC_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L "unit|sanitize"

bench: build
	bench/run_all.sh $(BUILD)
	bench/alloc/run.sh $(BUILD)
	bench/lua/run.sh $(BUILD)
	bench/lua/resume.sh $(BUILD)
	bench/lua/web_bench.py --lua-persist $(BUILD)/bin/lua-persist --lua lua5.4 --examples lua-persist/examples
	bench/py/run.sh $(BUILD)
	bench/py/resume.sh $(BUILD)
	/usr/bin/python3 bench/py/web_bench.py --py-persist $(BUILD)/bin/py-persist --examples py-persist/examples --python /usr/bin/python3

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
