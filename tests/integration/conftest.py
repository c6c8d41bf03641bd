"""Engine parameterization and the `machine` fixture for the integration tests.

Every test that boots a guest takes `engine` and `machine`, so one test definition
runs under each engine listed in ENGINES."""
import pytest

from machines import HostMachine, NestedMachine, host_has_kvm

ENGINES = ["kvm", "soft"]


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def machine(request, engine, build, trivisor_bin, guest_images):
    """Where trivisor runs with this engine: the host itself, except for kvm on a host
    without a usable /dev/kvm, where it runs inside the nested outer guest (one per
    session)."""
    if engine == "kvm" and not host_has_kvm(trivisor_bin):
        m = NestedMachine(request.getfixturevalue("outer_vm"))
    else:
        m = HostMachine(build)
    yield m
    # Shown by pytest for a failing test: where the whole console transcript is.
    print(f"console transcript: {m.log}")
    m.cleanup()      # anything the test left running is stopped
