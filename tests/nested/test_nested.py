"""The nested environment itself, independent of trivisor: when these fail, the
integration tests of the kvm engine cannot be trusted either way."""


def test_outer_guest_has_kvm(outer_vm):
    r = outer_vm.run("ls -l /dev/kvm && lsmod")
    assert r.status == 0, r
    assert "kvm_amd" in r.output, r


def test_kvm_client_runs_a_guest(outer_vm):
    # 1000 port writes by a real-mode guest, each a VM exit to user space.
    r = outer_vm.run("kvm-smoke 1000", timeout=120)
    assert r.status == 0 and "kvm-smoke: ok: 1000 io exits" in r.output, r


def test_engine_state_moves(outer_vm):
    # A program stopped halfway under one engine finishes under the other: vCPU state
    # (registers, x87/SSE, MSRs, LAPIC, events), the IOAPIC, the 8259A pair, the PIT.
    r = outer_vm.run("engine-state --kvm-only", timeout=600)
    assert r.status == 0, r
    for pair in ("kvm -> kvm", "kvm -> soft", "soft -> kvm", "soft chips -> kvm -> soft"):
        assert f"{pair}: ok" in r.output, r
