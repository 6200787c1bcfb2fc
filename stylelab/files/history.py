"""Loss histories: rows of numbers per iteration, written as CSV or JSON, drawn as a PNG.

A history is a list of dicts with the same keys (``iteration``, loss terms,
``seconds``, ...). Files are written atomically.
"""

import csv
import json
import os

from .atomic import write_atomically

HISTORY_FORMATS = (".csv", ".json")


def check_history_path(path):
    """Refuse a history file name whose format is unknown, before any work is done."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in HISTORY_FORMATS:
        raise ValueError(f"cannot tell a history format from the name {path!r}: "
                         f"use .csv or .json")


def write_history(path, rows):
    """Write `rows` to `path` as CSV (header + one line per row) or JSON (a list)."""
    check_history_path(path)
    keys = list(rows[0]) if rows else []

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            if os.fspath(path).lower().endswith(".json"):
                json.dump(rows, f, indent=1)
            else:
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
    write_atomically(path, write)


def plot_history(path, rows, terms=("total", "content", "style", "tv"), title=None):
    """Draw the loss terms against the iteration, on a log scale, as a picture file.

    Terms that are zero throughout (e.g. TV with weight 0) are left out.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("drawing the loss needs matplotlib: "
                         "pip install 'stylelab[plots]'") from None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    its = [r["iteration"] for r in rows]
    for term in terms:
        values = [r[term] for r in rows]
        if any(v > 0 for v in values):
            ax.plot(its, values, label=term)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (weighted)")
    ax.legend()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    try:
        write_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=90))
    finally:
        plt.close(fig)
