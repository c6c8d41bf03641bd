#!/usr/bin/python3
"""charts: PNG bar charts, drawn with gnuplot, of the benchmarks' --json output.

    bench/charts.py [--out DIR] RESULT.json...

Reads what bench/soft_mips.py, bench/linux_bench.py, bench/virtio_bench.py and
bench/nanobench.py write with --json OUT (each file says which it is) and draws, for
each file, DIR/NAME.png (NAME: the file's name without .json) with one group of bars
per figure and one bar per column of that run: the soft engine's interpreter and
translator, QEMU TCG, native and the rest where the run measured them. Each bar carries
its value; where a figure is the median of several runs, an error bar shows the
min-max spread (soft_mips and nanobench keep the best run: no spread). The gnuplot
script and its data are left beside the PNG (NAME.gp, NAME.dat) to restyle by hand.

Needs gnuplot with the pngcairo terminal (Debian: apt-get install gnuplot-nox).
PNGs are build products: write them under build/ (the default DIR is
build/bench-charts), never into the source tree.
"""
import argparse
import json
import math
import textwrap
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Bar colours by what a column is, so one engine looks the same in every chart.
COLOURS = [("interp", "#d95f02"), ("translate", "#1b9e77"), ("qemu", "#7570b3"),
           ("native", "#555555"), ("kvm", "#e7298a")]
PARA_COLOURS = {"#d95f02": "#fdae6b", "#1b9e77": "#8fd3be"}   # nanobench's para columns
OTHER = "#66a61e"


def colour(name, label):
    key = f"{name} {label}".lower()
    if "soft-interp" in key or "interpret" in key:
        c = "#d95f02"
    elif "translate" in key or name == "soft":
        c = "#1b9e77"
    else:
        c = next((c for k, c in COLOURS if k in key), OTHER)
    return PARA_COLOURS.get(c, c) if "para" in key and "hw" not in key else c


class Chart:
    """Rows (figure groups) by columns (bars): value, low, high (None: not measured)."""

    def __init__(self, title, ylabel, log, columns):
        self.title, self.ylabel, self.log = title, ylabel, log
        self.columns = columns            # [(name, label)]
        self.rows = []                    # [(label, [(v, lo, hi) or None])]

    def add(self, label, cells):
        if any(c is not None for c in cells):
            self.rows.append((label, cells))


def spread(s):
    """(median, min, max) of a summary dict, or None."""
    return (s["median"], s["min"], s["max"]) if s else None


def linux_chart(doc, cpu=False):
    cfg = doc["config"]
    cols = [(n, c["label"]) for n, c in doc["columns"].items() if c.get("runs")]
    what = "host CPU seconds of the process" if cpu else "seconds, host wall clock"
    ch = Chart(f"linux_bench{', CPU time' if cpu else ''}: the stock Debian kernel and busybox, "
               f"{cfg['size_bytes'] >> 20} MiB input, {cfg['forks']} fork+exec; median of "
               f"{cfg['runs']} runs (min-max)", f"{what} (log scale); lower is better", True, cols)
    for key, label in doc["figures"].items():
        if cpu and key in ("boot_kernel", "boot_init"):
            continue
        ch.add(label, [spread(doc["columns"][n]["cpu_summary" if cpu else "summary"].get(key))
                       for n, _ in cols])
    return ch


def linux_cpu_chart(doc):
    """The CPU-time chart, where the file has CPU times (linux_bench since issue 12)."""
    if not any(c.get("cpu_summary") for c in doc["columns"].values()):
        return None
    return linux_chart(doc, cpu=True)


def virtio_chart(doc):
    cfg = doc["config"]
    cols = [(n, c["label"]) for n, c in doc["columns"].items() if c.get("runs")]
    ch = Chart(f"virtio_bench: block and network from inside the guest; median of "
               f"{cfg['runs']} runs (min-max)",
               "MiB/s or requests/s (log scale); higher is better", True, cols)
    for key, f in doc["figures"].items():
        what = f"{f['amount']} MiB" if f["unit"] == "MiB/s" else f"{f['amount']} requests"
        ch.add(f"{f['label']}, {what} ({f['unit']})",
               [spread(doc["columns"][n]["rates"].get(key)) for n, _ in cols])
    return ch


def soft_mips_chart(doc):
    cols = [(n, f"{c['label']} ({c['mips']:.0f} MIPS{' equivalent' if n == 'qemu' else ''})")
            for n, c in doc["columns"].items()]
    ch = Chart(f"soft_mips: bench_int.bin (1.75 billion guest instructions); best of "
               f"{doc['config']['runs']} runs", "seconds, host wall clock; lower is better",
               False, cols)
    cs = doc["columns"]
    ch.add("wall time", [(cs[n]["best"]["wall"],) * 3 for n, _ in cols])
    ch.add("wall time less startup", [(cs[n]["work"],) * 3 for n, _ in cols])
    return ch


def nanobench_chart(doc):
    cols = [(lb, f"{lb} ({c['where']})") for lb, c in doc["columns"].items()]
    ch = Chart(f"nanobench: cost of one operation; best of {doc['config']['runs']} runs "
               f"({doc['config']['guest']})",
               "guest TSC cycles per operation (log scale); lower is better", True, cols)
    for b in doc["benchmarks"]:
        cells = []
        for lb, _ in cols:
            best = doc["columns"][lb]["best"]
            c = best["cost"].get(b)
            cells.append(None if c is None or b in best["na"] else (max(c, 1.0),) * 3)
        ch.add(b.replace("_", " "), cells)
    return ch


# kind -> [(suffix of the PNG's name, function(doc) -> Chart or None)]
KINDS = {"linux_bench": [("", linux_chart), ("-cpu", linux_cpu_chart)],
         "virtio_bench": [("", virtio_chart)], "soft_mips": [("", soft_mips_chart)],
         "nanobench": [("", nanobench_chart)]}


def kind_of(doc):
    if doc.get("bench") in KINDS:
        return doc["bench"]
    # Files written before the scripts said which they are.
    cfg = doc.get("config", {})
    if "forks" in cfg:
        return "linux_bench"
    if "seq_mib" in cfg:
        return "virtio_bench"
    return None


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw(ch, stem, out, subtitle, gnuplot):
    n = len(ch.columns)
    gap = 1
    dat, gp, png = out / f"{stem}.dat", out / f"{stem}.gp", out / f"{stem}.png"
    with open(dat, "w") as f:
        for label, cells in ch.rows:
            vals = []
            for c in cells:
                vals += ["NaN"] * 3 if c is None else [repr(float(x)) for x in c]
            f.write("\t".join([label.replace("\t", " ")] + vals) + "\n")
    values = [x for _, cells in ch.rows for c in cells if c for x in c if x > 0]
    lo, hi = min(values), max(values)
    if ch.log:
        yrange = f"[{10 ** math.floor(math.log10(lo) - 0.15)}:{hi * 4}]"
    else:
        yrange = f"[0:{hi * 1.18}]"
    width = max(900, min(1800, 120 + len(ch.rows) * (n * 26 + 36)))
    lines = [
        f"set terminal pngcairo size {width},600 font 'sans,10' noenhanced",
        f"set output {quote(str(png))}",
        f"set title {quote(ch.title + chr(10) + subtitle)}",
        f"set ylabel {quote(ch.ylabel)}",
        "set datafile separator '\\t'",
        "set datafile missing 'NaN'",
        "set style data histograms",
        f"set style histogram errorbars gap {gap} lw 1",
        "set style fill solid 0.9 border rgb '#333333'",
        "set key top left reverse Left samplen 2 box opaque",
        "set grid ytics lc rgb '#dddddd'",
        "set border 3",
        "set xtics nomirror scale 0 font ',9'",
        "set ytics nomirror",
        f"set yrange {yrange}",
        "set xrange [-0.6:%g]" % (len(ch.rows) - 0.4),
    ]
    if ch.log:
        lines.append("set logscale y")
    # The groups' names, wrapped to the width of a group.
    chars = max(10, int((width - 120) / len(ch.rows) / 7))
    tics = [f"{quote(textwrap.fill(label, chars))} {i}" for i, (label, _) in enumerate(ch.rows)]
    lines.append(f"set xtics ({', '.join(tics)})")
    lines.append("set bmargin 4")
    plots, labels = [], []
    for j, (name, label) in enumerate(ch.columns):
        v, l, h = 2 + 3 * j, 3 + 3 * j, 4 + 3 * j
        src = quote(str(dat)) if j == 0 else "''"
        plots.append(f"{src} using {v}:{l}:{h} title {quote(label)} "
                     f"lc rgb '{colour(name, label)}'")
        dx = (j - (n - 1) / 2) / (n + gap)
        labels.append(f"'' using ($0{dx:+.4f}):{h}:(fmtv(column({v}))) with labels "
                      f"offset 0,0.6 font ',8' notitle")
    lines.append("fmtv(x) = x >= 100 ? sprintf('%.0f', x) : x >= 10 ? sprintf('%.1f', x) : "
                 "x >= 1 ? sprintf('%.2f', x) : sprintf('%.3f', x)")
    lines.append("plot " + ", \\\n     ".join(plots + labels))
    gp.write_text("\n".join(lines) + "\n")
    p = subprocess.run([gnuplot, str(gp)], capture_output=True, text=True)
    if p.returncode or not png.exists():
        sys.exit(f"charts: gnuplot failed on {gp}:\n{p.stderr}")
    return png


def trivisor_sha(doc):
    """The SHA-256 of the trivisor binary measured, where the file says."""
    t = doc.get("trivisor")
    if isinstance(t, dict):
        return t.get("sha256")
    return doc.get("config", {}).get("trivisor_sha256")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "bench-charts",
                    help="directory for the PNGs (default build/bench-charts)")
    ap.add_argument("--gnuplot", default="gnuplot", help="gnuplot binary")
    ap.add_argument("results", nargs="+", type=Path, help="--json output of a benchmark")
    a = ap.parse_args(argv)
    gnuplot = shutil.which(a.gnuplot)
    if not gnuplot:
        sys.exit(f"charts: {a.gnuplot} not found (Debian: apt-get install gnuplot-nox)")
    a.out.mkdir(parents=True, exist_ok=True)
    for path in a.results:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            sys.exit(f"charts: {path}: {e}")
        kind = kind_of(doc)
        if not kind:
            sys.exit(f"charts: {path}: not the --json output of a benchmark here")
        host = doc.get("host", {})
        load = f"load average {host['load_average']:.2f}" if "load_average" in host else ""
        if load and "load_average_end" in host:
            load += f" (start) {host['load_average_end']:.2f} (end)"
        sha = trivisor_sha(doc)
        subtitle = ", ".join(x for x in [
            doc.get("date", ""), f"{host['cpus']} CPUs" if host.get("cpus") else "", load,
            f"trivisor SHA-256 {sha[:8]}" if sha else ""] if x)
        for suffix, make in KINDS[kind]:
            ch = make(doc)
            if ch is None:
                continue
            if not ch.rows or not ch.columns:
                print(f"charts: {path}: nothing measured, no chart", file=sys.stderr)
                continue
            print(draw(ch, path.name.removesuffix(".json") + suffix, a.out, subtitle, gnuplot))


if __name__ == "__main__":
    main()
