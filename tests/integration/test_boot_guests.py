"""The boot test guests of tests/guests: every loader path with a real CPU behind it.
Each guest prints what the loader told it on COM1 and leaves through isa-debug-exit
with 0x31, so trivisor exits 99.
  hello.elf, hello_kludge.bin    multiboot v1, ELF and address-kludge forms (32-bit entry)
  hello_low.elf                  hello.elf linked at 0x2000, where a loader with fixed
                                 addresses would keep its boot data
  hello64.elf, hello64.bzimage   Linux 64-bit boot protocol: ELF vmlinux and bzImage"""
import re

import pytest

MULTIBOOT = {"hello.elf": "elf", "hello_kludge.bin": "kludge", "hello_low.elf": "elf"}
LINUX64 = {"hello64.elf": "elf", "hello64.bzimage": "bzimage"}
EXIT_OK = (0x31 << 1) | 1
MEM_MIB = 64


def guest_path(build, name):
    path = build / "tests" / "guests" / name
    if not path.exists():
        pytest.fail(f"{path} missing: build the test guests (ninja -C {build})", pytrace=False)
    return name


@pytest.fixture(params=sorted(MULTIBOOT))
def multiboot_guest(request, build):
    return guest_path(build, request.param)


@pytest.fixture(params=sorted(LINUX64))
def linux64_guest(request, build):
    return guest_path(build, request.param)


def field(output, name):
    m = re.search(rf"^{name}: (.*)$", output, re.M)
    assert m, f"no '{name}:' line in the guest's output:\n{output}"
    return m.group(1).strip()


def run_guest(machine, engine, guest, *extra):
    return machine.run(["run", "--engine", engine, "--mem", f"{MEM_MIB}M",
                        "--kernel", f"{machine.guests}/{guest}", *extra], timeout=120)


def test_multiboot_guest(machine, engine, multiboot_guest):
    g = multiboot_guest
    r = run_guest(machine, engine, g, "--append", "one two", "--initrd", f"{machine.guests}/{g}")
    assert r.status == EXIT_OK, r
    assert "trivisor multiboot ok" in r.output, r
    assert field(r.output, "form") == MULTIBOOT[g]
    assert field(r.output, "cmdline").endswith("one two")
    assert field(r.output, "mods") == "1"
    # Conventional memory just under 640 KiB; extended memory from 1 MiB up to the top
    # of RAM, less whatever the firmware tables reserve there.
    assert 600 <= int(field(r.output, "mem_lower")) <= 640, r
    upper = int(field(r.output, "mem_upper"))
    assert (MEM_MIB - 8) * 1024 <= upper <= (MEM_MIB - 1) * 1024, r


def test_linux64_guest(machine, engine, linux64_guest):
    g = linux64_guest
    r = run_guest(machine, engine, g, "--append", "console=ttyS0 three four")
    assert r.status == EXIT_OK, r
    assert "trivisor linux64 ok" in r.output, r
    assert field(r.output, "form") == LINUX64[g]
    assert field(r.output, "cmdline") == "console=ttyS0 three four"
    # RAM below the EBDA, the BIOS area, RAM from 1 MiB, IOAPIC and LAPIC pages.
    assert int(field(r.output, "e820")) == 5, r
