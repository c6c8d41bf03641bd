"""Engine parameterization and the `machine` fixture for the integration tests.

Every test that boots a guest takes `engine` and `machine`, so one test definition
runs under each engine listed in ENGINES."""
import pytest

from machines import HostMachine, NestedMachine, host_has_kvm

# Add "soft" here when the soft engine can run these guests.
ENGINES = ["kvm"]


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def machine(request, engine, build, trivisor_bin, guest_images):
    """Where trivisor runs with this engine: the host itself, except for kvm on a host
    without /dev/kvm, where it runs inside the nested outer guest (one per session)."""
    if engine == "kvm" and not host_has_kvm():
        m = NestedMachine(request.getfixturevalue("outer_vm"))
    else:
        m = HostMachine(build)
    yield m
    # Anything a test left running is stopped; pytest shows this output for a failure.
    for p in m.procs:
        print(f"---- console of: {getattr(p, 'cmd', None) or p.argv} ----")
        print(p.output[-6000:])
    m.cleanup()
