"""--stats and --stats-json under the soft engine, which also counts guest instructions
retired and exceptions by vector (the kvm engine leaves those at 0, and --stats omits
them). Runs directly on this host: the soft engine needs nothing."""
import json
import re
import subprocess

import pytest

EXIT_OK = (0x31 << 1) | 1


def run_soft(trivisor_bin, build, guest, *extra):
    path = build / "tests" / "guests" / f"{guest}.bin"
    if not path.exists():
        pytest.fail(f"{path} missing: build the test guests", pytrace=False)
    p = subprocess.run([str(trivisor_bin), "run", "--engine", "soft", "--mem", "64M",
                        "--kernel", str(path), *map(str, extra)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert p.returncode == EXIT_OK, p
    return p


def test_stats_text_and_json_agree(trivisor_bin, build, tmp_path):
    out = tmp_path / "stats.json"
    p = run_soft(trivisor_bin, build, "bench_int_quick", "--stats", "--stats-json", out)
    m = re.search(r"^instructions:\s+(\d+) retired, ([\d.]+) MIPS", p.stderr, re.M)
    assert m, p.stderr
    s = json.loads(out.read_text())
    assert s["engine"] == "soft" and s["vcpus"] == 1
    # 3 rounds of about 220k instructions each, plus setup and printing
    assert 500_000 < s["instructions"] == int(m.group(1)) < 1_000_000
    assert s["exits"]["io"] > 0 and s["exceptions"] == {}
    assert s["per_vcpu"][0]["instructions"] == s["instructions"]
    assert 0 < s["ns_in_engine"] <= s["ns_run"]
    uart = [d for d in s["pio"]["devices"] if d["base"] == 0x3f8]
    assert uart and uart[0]["accesses"] > 0
    assert "exceptions:" not in p.stderr


def test_exceptions_by_vector(trivisor_bin, build):
    p = run_soft(trivisor_bin, build, "exceptions", "--stats-json", "-")
    s = json.loads(p.stderr[p.stderr.index("{"):])
    # tests/guests/exceptions.S raises #DE, #UD, #GP (twice), #PF (read, write, and the
    # one that escalates to #DF: counted under its own vector) and #BP.
    assert {int(v) for v in s["exceptions"]} >= {0, 3, 6, 13, 14}, s["exceptions"]
