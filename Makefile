# Two commands: `make run` and `make test`. Everything else is a helper.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PORT       ?= 8080
DATA       ?= ./data

.PHONY: all deps build run test unit asan e2e bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@mkdir -p $(DATA)
	$(BUILD)/serviceflow migrate --data-dir $(DATA)
	$(BUILD)/serviceflow seed --data-dir $(DATA)
	$(BUILD)/serviceflow serve --data-dir $(DATA) --port $(PORT)

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSF_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest -L unit --output-on-failure -j $(JOBS)

e2e: build
	cd $(BUILD) && ctest -L e2e --output-on-failure

test: deps build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@bash scripts/install-deps.sh --bench
	bash bench/run.sh
	bash bench/lists.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
