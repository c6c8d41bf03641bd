"""Runs the C unit tests (registered with meson) as pytest cases, once per build:
the normal build and, when present, the ASan+UBSan build."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _builds():
    builds = [os.environ.get("TRIVISOR_BUILD", "build")]
    asan = os.environ.get("TRIVISOR_ASAN_BUILD")
    if asan:
        builds.append(asan)
    return [ROOT / b for b in builds]


def _unit_tests():
    cases = []
    for build in _builds():
        if not (build / "build.ninja").exists():
            cases.append(pytest.param(build, None, id=f"{build.name}-missing"))
            continue
        out = subprocess.run(["meson", "introspect", "--tests", str(build)],
                             check=True, capture_output=True, text=True).stdout
        for t in json.loads(out):
            cases.append(pytest.param(build, t, id=f"{build.name}-{t['name']}"))
    return cases


@pytest.mark.parametrize("build,test", _unit_tests())
def test_unit(build, test):
    assert test is not None, f"{build} is not configured: run 'make build' first"
    env = dict(os.environ, **test.get("env", {}))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    r = subprocess.run(test["cmd"], cwd=test.get("workdir") or build, env=env,
                       capture_output=True, text=True, timeout=120)
    # meson's should_fail does not show in its introspection: such tests are also put
    # in the suite "should_fail".
    if any(s.endswith("should_fail") for s in test.get("suite", [])):
        assert r.returncode not in (0, -6, -11), \
            f"{test['name']} should have failed (and not crashed):\n{r.stdout}\n{r.stderr}"
        return
    assert r.returncode == 0, f"{test['name']} failed:\n{r.stdout}\n{r.stderr}"
