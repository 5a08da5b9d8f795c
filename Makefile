# medcrypt: a thin wrapper over meson. `make test` is what CI runs (.ci/run).
#   make            build (release) into build/, and the web client into web/dist/ (web/build.mjs)
#   make test       bootstrap, build, run every suite, then again under ASan+UBSan
#   make run        bootstrap, build, and run the server medcryptd on https://localhost:8443
#                   (scripts/run-server; the CLI demo is scripts/demo)
#   make bench      benchmarks against openssl speed, age and gpg (docs/PERFORMANCE.md)
#   make fuzz       build the libFuzzer targets and run each for FUZZ_SECONDS (default 60)
#   make format     clang-format every C file in place

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# The web client medcryptd serves: rebuilt when a source, the build script or the lockfile changes.
WEB_DIST    := web/dist/manifest.json
WEB_SOURCES := $(shell find web/src web/static -type f 2>/dev/null) web/build.mjs web/package.json web/package-lock.json

.PHONY: all bootstrap build web test test-release test-asan run bench fuzz format clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized -Dfuzz=true -Db_lundef=false

build: bootstrap $(BUILD)/build.ninja web
	ninja -C $(BUILD)

web: $(WEB_DIST)

# npm ci (scripts/bootstrap) comes first; it does not make web/dist out of date by itself.
$(WEB_DIST): $(WEB_SOURCES) | bootstrap
	cd web && npm run --silent build

test: build $(ASAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ninja -C $(FUZZ_BUILD)
	tests/run-all $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

run: build
	scripts/run-server $(BUILD)

bench: build
	bench/run $(BUILD)

fuzz: bootstrap $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) web/dist
