# Two commands: `make run` and `make test`. Everything else is a helper.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
# `make run PORT=9090 DATA=/srv/sf BIND=0.0.0.0`; the server's own environment
# variables (SERVICEFLOW_PORT, SERVICEFLOW_DATA_DIR, SERVICEFLOW_BIND) work too.
PORT       ?= $(or $(SERVICEFLOW_PORT),8080)
DATA       ?= $(or $(SERVICEFLOW_DATA_DIR),./data)
# The demo accounts have public passwords: loopback only unless asked.
BIND       ?= $(or $(SERVICEFLOW_BIND),127.0.0.1)
SEED_HOST   = $(if $(filter 0.0.0.0 :: [::],$(BIND)),127.0.0.1,$(BIND))

.PHONY: all deps test-deps build run test unit asan e2e bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

# The server, then the web app it serves from $(BUILD)/web (when web/ has a
# package.json; scripts/build-web.sh runs npm ci only when the lock file changed).
build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)
	@bash scripts/build-web.sh $(BUILD)

# Migrates (creating DATA), seeds the demo users and catalog, then serves in
# the foreground while scripts/seed_desk.py publishes the example workflows
# and opens demo service requests through the API once the server is ready.
run: build
	$(BUILD)/serviceflow migrate --data-dir $(DATA)
	$(BUILD)/serviceflow seed --data-dir $(DATA)
	@python3 scripts/seed_desk.py --url http://$(SEED_HOST):$(PORT) & \
	exec $(BUILD)/serviceflow serve --data-dir $(DATA) --port $(PORT) --bind $(BIND)

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSF_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest -L unit --output-on-failure -j $(JOBS)

e2e: build test-deps
	cd $(BUILD) && ctest -L e2e --output-on-failure

test-deps:
	@bash scripts/install-deps.sh --test

test: deps test-deps build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@bash scripts/install-deps.sh --bench
	bash bench/run.sh
	bash bench/lists.sh

# Formats the C sources with .clang-format; `make test` fails on unformatted files.
format:
	@bash scripts/format.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Screenshots of key pages for the README (docs/screenshots/*-{desktop,phone}.png), taken by
# the web suite's `screenshots` project (tests/web/pages.ts: the pages with a `shot` name).
.PHONY: screenshots
screenshots: build test-deps
	SF_WEB_ROOT=$(abspath $(BUILD))/web SERVICEFLOW_TESTCLOCK_BIN=$(abspath $(BUILD))/serviceflow-testclock \
	  bash tests/web/run.sh --screenshots
