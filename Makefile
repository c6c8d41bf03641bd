# Convenience entry points; the build itself is Meson + Ninja.
#   make run    install dependencies, build, build the guest image, boot it
#   make test   the same, then every test (unit, sanitizer, fuzz, integration)
#   make fuzz   the libFuzzer targets (clang build in build-fuzz)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
GUEST      ?= $(BUILD)/guest
# Debian's python3: the one python3-pytest and python3-pexpect belong to. Two workers:
# the nested kvm tests run beside the host's (tests/conftest.py groups them).
PYTEST     ?= /usr/bin/python3 -m pytest -n 2 --dist loadgroup

.PHONY: all deps build asan fuzz guest run test clean

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

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

# After build: the default initramfs carries the guest user programs built in $(BUILD).
guest: deps build
	@scripts/mkguest.sh --out $(GUEST) --build $(BUILD)

run: build guest
	@scripts/run-default.sh $(BUILD)

test: build asan fuzz guest
	TRIVISOR_BUILD=$(BUILD) TRIVISOR_ASAN_BUILD=$(ASAN_BUILD) TRIVISOR_FUZZ_BUILD=$(FUZZ_BUILD) $(PYTEST) tests

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
