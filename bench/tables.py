"""Output shared by the benchmark scripts."""
import json
import sys
from pathlib import Path


def print_table(head, rows):
    """A plain-text table: the first column left-aligned, the figures right-aligned."""
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths)))
    print()
    print(line(head))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()


def write_json(path, doc):
    """--json PATH of every benchmark: doc, indented, to PATH or ('-') standard output."""
    text = json.dumps(doc, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)
