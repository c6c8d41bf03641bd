#!/usr/bin/python3
"""soft_mips: the software CPU's speed on a CPU-bound guest, next to QEMU TCG.

Runs the benchmark guest (tests/guests/bench_int.S, built as
build/tests/guests/bench_int.bin) under `trivisor run --engine soft --stats` and prints
the guest instructions retired, the seconds in the engine and MIPS (both from --stats),
and the wall time. Then runs the same image under QEMU TCG (the peer, measured in the
same run), checks that both print the same checksum, and prints the ratio of wall
times. Wall times include process startup; the 3-round guest (bench_int_quick.bin) is
run too to measure that startup, and a ratio with it subtracted is printed as well.
Each measurement is the best (shortest) of --runs runs: these machines are shared.

    bench/soft_mips.py [--build DIR] [--runs N] [--no-qemu]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

QEMU_ARGS = ['-accel', 'tcg', '-M', 'pc', '-cpu', 'max', '-m', '64', '-no-reboot',
             '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
             '-display', 'none', '-monitor', 'none', '-serial', 'stdio']
GUEST_OK = 99  # the guest wrote 0x31 to isa-debug-exit: (0x31 << 1) | 1


def run(cmd):
    """Run cmd with no input; return (wall seconds, stdout, stderr)."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=600)
    wall = time.monotonic() - t0
    if p.returncode != GUEST_OK:
        sys.exit(f'soft_mips: {cmd[0]} exited with status {p.returncode}, expected '
                 f'{GUEST_OK}\n{p.stdout}{p.stderr}')
    return wall, p.stdout, p.stderr


def checksum(out):
    m = re.search(r'checksum: ([0-9a-f]+)', out)
    if not m or 'all ok' not in out:
        sys.exit(f'soft_mips: the guest did not finish its checks:\n{out}')
    return m.group(1)


def trivisor_run(trivisor, guest):
    """(wall s, instructions, s in engine, checksum) of one run."""
    wall, out, err = run([trivisor, 'run', '--engine', 'soft', '--stats', '--kernel', guest])
    insns = re.search(r'instructions:\s+(\d+) retired', err)
    engine = re.search(r'vCPU time:\s+([\d.]+) s in engine', err)
    if not insns or not engine:
        sys.exit(f'soft_mips: no instruction count in --stats:\n{err}')
    return wall, int(insns.group(1)), float(engine.group(1)), checksum(out)


def qemu_run(qemu, guest):
    wall, out, _ = run([qemu, '-kernel', guest] + QEMU_ARGS)
    return wall, checksum(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--build', default=os.path.join(here, '..', 'build'),
                    help='meson build directory (default: build)')
    ap.add_argument('--runs', type=int, default=3, help='best of N runs (default 3)')
    ap.add_argument('--no-qemu', action='store_true', help='skip the QEMU TCG peer')
    a = ap.parse_args()
    trivisor = os.path.join(a.build, 'trivisor')
    guest = os.path.join(a.build, 'tests', 'guests', 'bench_int.bin')
    quick = os.path.join(a.build, 'tests', 'guests', 'bench_int_quick.bin')
    for f in (trivisor, guest, quick):
        if not os.path.exists(f):
            sys.exit(f'soft_mips: {f} missing: build first (ninja -C {a.build})')

    print(f'host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; '
          f'guest: {os.path.relpath(guest)}; best of {a.runs} runs')
    best = min((trivisor_run(trivisor, guest) for _ in range(a.runs)), key=lambda r: r[2])
    wall, insns, engine, sum_soft = best
    t_start = min(trivisor_run(trivisor, quick)[0] for _ in range(a.runs))
    print(f'trivisor soft: {insns} guest instructions in {engine:.3f} s in the engine: '
          f'{insns / engine / 1e6:.1f} MIPS')
    print(f'               wall {wall:.3f} s (3-round guest: {t_start:.3f} s)')
    if a.no_qemu:
        return
    qemu = shutil.which('qemu-system-x86_64')
    if not qemu:
        sys.exit('soft_mips: qemu-system-x86_64 not found (Debian: qemu-system-x86)')
    q_wall, sum_qemu = min((qemu_run(qemu, guest) for _ in range(a.runs)), key=lambda r: r[0])
    q_start = min(qemu_run(qemu, quick)[0] for _ in range(a.runs))
    if sum_qemu != sum_soft:
        sys.exit(f'soft_mips: checksums differ: trivisor {sum_soft}, QEMU {sum_qemu}')
    q_work = max(q_wall - q_start, 1e-6)
    print(f'qemu tcg:      wall {q_wall:.3f} s (3-round guest: {q_start:.3f} s); '
          f'same checksum {sum_qemu}')
    print(f'               {insns / q_work / 1e6:.0f} MIPS equivalent (trivisor\'s instruction '
          f'count / QEMU wall time less startup)')
    print(f'ratio trivisor/QEMU wall time: {wall / q_wall:.2f}; '
          f'startup subtracted from both: {(wall - t_start) / q_work:.2f}')


if __name__ == '__main__':
    main()
