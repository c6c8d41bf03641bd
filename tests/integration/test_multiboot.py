"""The multiboot test guests of tests/guests (hello.S): both forms print what the loader
told them on COM1 and leave through isa-debug-exit with 0x31, so trivisor exits 99."""
import re

import pytest

GUESTS = {"hello.elf": "elf", "hello_kludge.bin": "kludge"}
EXIT_OK = (0x31 << 1) | 1


@pytest.fixture(params=sorted(GUESTS))
def guest(request, build):
    path = build / "tests" / "guests" / request.param
    if not path.exists():
        pytest.fail(f"{path} missing: build the test guests (ninja -C {build})", pytrace=False)
    return request.param


def field(output, name):
    m = re.search(rf"^{name}: (.*)$", output, re.M)
    assert m, f"no '{name}:' line in the guest's output:\n{output}"
    return m.group(1).strip()


def test_multiboot_guest(machine, engine, guest):
    mem_mib = 64
    r = machine.run(["run", "--engine", engine, "--mem", f"{mem_mib}M",
                     "--kernel", f"{machine.guests}/{guest}", "--append", "one two",
                     "--initrd", f"{machine.guests}/{guest}"], timeout=120)
    assert r.status == EXIT_OK, r
    assert "trivisor multiboot ok" in r.output, r
    assert field(r.output, "form") == GUESTS[guest]
    assert field(r.output, "cmdline").endswith("one two")
    assert field(r.output, "mods") == "1"
    # Conventional memory just under 640 KiB; extended memory from 1 MiB up to the top
    # of RAM, less whatever the firmware tables reserve there.
    assert 600 <= int(field(r.output, "mem_lower")) <= 640, r
    upper = int(field(r.output, "mem_upper"))
    assert (mem_mib - 8) * 1024 <= upper <= (mem_mib - 1) * 1024, r
