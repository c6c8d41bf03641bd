#!/usr/bin/python3
"""soft_mips: the software CPU's speed on a CPU-bound guest, under both of its tiers,
next to QEMU TCG.

Runs the benchmark guest (tests/guests/bench_int.S, built as
build/tests/guests/bench_int.bin) under `trivisor run --engine soft --soft-tier TIER
--stats` for each tier (interpret: the interpreter; translate: the binary translator,
the default) and prints the guest instructions retired, the seconds in the engine and
MIPS (both from --stats), and the wall time. Then runs the same image under QEMU TCG
(the peer, measured in the same run), checks that every column printed the same
checksum, and prints the ratios of wall times. Wall times include process startup; the
3-round guest (bench_int_quick.bin) is run too to measure that startup, and ratios with
it subtracted are printed as well. Each measurement is the best (shortest) of --runs
runs, the runs of the columns taking turns (interpret, translate, QEMU, then again), so
a change in the host's load touches every column alike: these machines are shared.

    bench/soft_mips.py [--build DIR] [--trivisor PATH] [--runs N] [--no-qemu]
                       [--tiers interpret,translate] [--json OUT]
"""
import argparse
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

from tables import print_table, write_json

QEMU_ARGS = ['-accel', 'tcg', '-M', 'pc', '-cpu', 'max', '-m', '64', '-no-reboot',
             '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
             '-display', 'none', '-monitor', 'none', '-serial', 'stdio']
GUEST_OK = 99  # the guest wrote 0x31 to isa-debug-exit: (0x31 << 1) | 1
TIERS = ['interpret', 'translate']
LABELS = {'interpret': 'trivisor soft interpret', 'translate': 'trivisor soft translate',
          'qemu': 'QEMU TCG'}
SHORT = {'interpret': 'interp', 'translate': 'translate', 'qemu': 'qemu'}


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


def trivisor_cmd(trivisor, tier, guest):
    return [trivisor, 'run', '--engine', 'soft', '--soft-tier', tier, '--stats',
            '--kernel', guest]


def trivisor_run(trivisor, tier, guest):
    """{wall, insns, engine, checksum} of one run (wall and engine in seconds)."""
    wall, out, err = run(trivisor_cmd(trivisor, tier, guest))
    insns = re.search(r'instructions:\s+(\d+) retired', err)
    engine = re.search(r'vCPU time:\s+([\d.]+) s in engine', err)
    if not insns or not engine:
        sys.exit(f'soft_mips: no instruction count in --stats:\n{err}')
    return {'wall': wall, 'insns': int(insns.group(1)), 'engine': float(engine.group(1)),
            'checksum': checksum(out)}


def qemu_run(qemu, guest):
    wall, out, _ = run([qemu, '-kernel', guest] + QEMU_ARGS)
    return {'wall': wall, 'checksum': checksum(out)}


def sha256_of(path):
    """The binary measured (a build from a working tree is named by no commit)."""
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n', 2)[2])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--build', default=os.path.join(here, '..', 'build'),
                    help='meson build directory (default: build)')
    ap.add_argument('--trivisor', metavar='PATH',
                    help='trivisor binary (default BUILD/trivisor; a copy keeps a rebuild '
                         'during the run from mixing two versions)')
    ap.add_argument('--runs', type=int, default=3, help='best of N runs (default 3)')
    ap.add_argument('--no-qemu', action='store_true', help='skip the QEMU TCG peer')
    ap.add_argument('--tiers', default=','.join(TIERS),
                    help='the soft engine\'s tiers to run, comma-separated (default '
                         'interpret,translate)')
    ap.add_argument('--json', metavar='OUT',
                    help='also write every run and the results as JSON (\'-\': stdout); '
                         'bench/charts.py draws it')
    a = ap.parse_args()
    tiers = [t.strip() for t in a.tiers.split(',') if t.strip()]
    if not tiers or any(t not in TIERS for t in tiers):
        ap.error(f'--tiers: choose from {",".join(TIERS)}')
    if a.runs < 1:
        ap.error('--runs must be at least 1')
    a.build = os.path.normpath(a.build)
    trivisor = a.trivisor or os.path.join(a.build, 'trivisor')
    guest = os.path.join(a.build, 'tests', 'guests', 'bench_int.bin')
    quick = os.path.join(a.build, 'tests', 'guests', 'bench_int_quick.bin')
    for f in (trivisor, guest, quick):
        if not os.path.exists(f):
            sys.exit(f'soft_mips: {f} missing: build first (ninja -C {a.build})')
    qemu = None
    if not a.no_qemu:
        qemu = shutil.which('qemu-system-x86_64')
        if not qemu:
            sys.exit('soft_mips: qemu-system-x86_64 not found (Debian: qemu-system-x86)')
    load = os.getloadavg()[0]
    print(f'host: {os.cpu_count()} CPUs, load average {load:.2f}; '
          f'guest: {os.path.relpath(guest)}; best of {a.runs} runs, the columns taking turns',
          flush=True)

    # column -> function(guest) -> one run's dict
    cols = {t: (lambda g, t=t: trivisor_run(trivisor, t, g)) for t in tiers}
    if qemu:
        cols['qemu'] = lambda g: qemu_run(qemu, g)
    runs = {c: [] for c in cols}
    starts = {c: [] for c in cols}
    for _ in range(a.runs):
        for c, f in cols.items():
            runs[c].append(f(guest))
    for _ in range(a.runs):
        for c, f in cols.items():
            starts[c].append(f(quick)['wall'])

    # trivisor: the run with the least engine time; QEMU: the least wall time.
    best = {c: min(runs[c], key=lambda r: r['engine'] if c in TIERS else r['wall'])
            for c in cols}
    start = {c: min(starts[c]) for c in cols}
    insns = best[tiers[0]]['insns']
    for t in tiers:
        b = best[t]
        print(f'{LABELS[t]}: {b["insns"]} guest instructions in {b["engine"]:.3f} s in the '
              f'engine: {b["insns"] / b["engine"] / 1e6:.1f} MIPS')
        print(f'{"":{len(LABELS[t])}}  wall {b["wall"]:.3f} s (3-round guest: {start[t]:.3f} s)')
    sums = {c: best[c]['checksum'] for c in cols}
    if len(set(sums.values())) > 1:
        sys.exit(f'soft_mips: checksums differ: {sums}')
    if len({best[t]['insns'] for t in tiers}) > 1:
        print('note: the tiers counted different instruction totals: '
              + ', '.join(f'{t} {best[t]["insns"]}' for t in tiers))
    work = {c: max(best[c]['wall'] - start[c], 1e-6) for c in cols}
    if qemu:
        print(f'qemu tcg:      wall {best["qemu"]["wall"]:.3f} s (3-round guest: '
              f'{start["qemu"]:.3f} s); same checksum {sums["qemu"]}')
        print(f'               {insns / work["qemu"] / 1e6:.0f} MIPS equivalent (trivisor\'s '
              f'instruction count / QEMU wall time less startup)')
        for t in tiers:
            print(f'ratio trivisor {t}/QEMU wall time: {best[t]["wall"] / best["qemu"]["wall"]:.2f}; '
                  f'startup subtracted from both: {work[t] / work["qemu"]:.2f}')

    # The table: every column side by side, and the ratios of each pair (above 1: the
    # first one slower).
    order = list(cols)
    pairs = [(x, y) for i, x in enumerate(order) for y in order[i + 1:]]
    mips = {c: (best[c]['insns'] if c in TIERS else insns) / (best[c]['engine'] if c in TIERS
                                                               else work[c]) / 1e6
            for c in cols}
    head = ['figure'] + [LABELS[c] for c in order] + [f'{SHORT[x]}/{SHORT[y]}' for x, y in pairs]
    rows = [['wall time (s)'] + [f'{best[c]["wall"]:.3f}' for c in order]
            + [f'{best[x]["wall"] / best[y]["wall"]:.2f}x' for x, y in pairs],
            ['wall less startup (s)'] + [f'{work[c]:.3f}' for c in order]
            + [f'{work[x] / work[y]:.2f}x' for x, y in pairs],
            ['startup, 3-round guest (s)'] + [f'{start[c]:.3f}' for c in order]
            + ['-' for _ in pairs],
            ['MIPS (QEMU: equivalent)'] + [f'{mips[c]:.0f}' for c in order]
            + [f'{mips[x] / mips[y]:.2f}x' for x, y in pairs]]
    print_table(head, rows)
    print(f'best of {a.runs} runs; time ratios above 1: the first column slower; MIPS '
          f'ratios above 1: the first faster. trivisor\'s MIPS: instructions / seconds in '
          f'the engine (--stats); QEMU\'s: the same instruction count / its wall time less '
          f'startup. All columns printed checksum {sums[order[0]]}.')
    print('commands:')
    for t in tiers:
        print(f'  {LABELS[t]}: {" ".join(trivisor_cmd(trivisor, t, guest))}')
    if qemu:
        print(f'  QEMU TCG: {" ".join([qemu, "-kernel", guest] + QEMU_ARGS)}')

    if a.json:
        doc = {'bench': 'soft_mips',
               'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
               'host': {'cpus': os.cpu_count(), 'load_average': load,
                        'load_average_end': os.getloadavg()[0]},
               'config': {'runs': a.runs, 'guest': guest, 'startup_guest': quick,
                          'trivisor': trivisor, 'trivisor_sha256': sha256_of(trivisor),
                          'qemu': qemu},
               'columns': {c: {'label': LABELS[c], 'runs': runs[c], 'startup_runs': starts[c],
                               'best': best[c], 'startup': start[c], 'work': work[c],
                               'mips': mips[c]} for c in order},
               'ratios': {f'{x}/{y}': {'wall': best[x]['wall'] / best[y]['wall'],
                                       'work': work[x] / work[y],
                                       'mips': mips[x] / mips[y]} for x, y in pairs}}
        write_json(a.json, doc)


if __name__ == '__main__':
    main()
