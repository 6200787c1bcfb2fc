"""What several commands share: durations, the summary line, snapshot names."""

import os
import sys


def duration(seconds):
    """``"12.3s"`` or ``"4m 05s"``, for the summary lines."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m {s:02d}s" if m else f"{seconds:.1f}s"


def report(summary, interrupted, written):
    """Print a run's summary line; after Ctrl-C on stderr, saying what was `written`, and exit 130."""
    if interrupted:
        print(f"stylelab: interrupted; wrote {written}. {summary}", file=sys.stderr)
        raise SystemExit(130)
    print(summary)


def snapshot_path(out, iteration):
    """``out.png`` at iteration 12 -> ``out_0012.png``."""
    stem, ext = os.path.splitext(out)
    return f"{stem}_{iteration:04d}{ext}"
