# Convenience entry points; the build itself is Meson + Ninja.
#   make run    install dependencies, build, build the guest image, boot it
#   make test   the same, then every test (unit, sanitizer, integration)
BUILD      ?= build
ASAN_BUILD ?= build-asan
GUEST      ?= $(BUILD)/guest
# Debian's python3: the one python3-pytest and python3-pexpect belong to.
PYTEST     ?= /usr/bin/python3 -m pytest

.PHONY: all deps build asan guest run test clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --werror -Dsanitize=true -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

guest: deps
	@scripts/mkguest.sh --out $(GUEST)

run: build guest
	@scripts/run-default.sh $(BUILD)

test: build asan guest
	TRIVISOR_BUILD=$(BUILD) TRIVISOR_ASAN_BUILD=$(ASAN_BUILD) $(PYTEST) tests

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
