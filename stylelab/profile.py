"""Where the time goes: wall time per named stage, summed over calls.

>>> from stylelab.profile import Profile, timed
>>> p = Profile()
>>> with timed(p, "sleep"):
...     pass
>>> p.calls["sleep"]
1

A network or objective with ``.profile = Profile()`` times its stages into it;
with ``.profile = None`` (the default) nothing is timed. On a GPU, pass
``sync=cupy.cuda.Device().synchronize`` so each stage's kernels are waited for.
"""

import contextlib
import time


class Profile:
    """Seconds and calls per stage name."""

    def __init__(self, sync=None):
        self.seconds, self.calls = {}, {}
        self.sync = sync

    def add(self, name, seconds):
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def table(self, per=1):
        """Markdown rows ``| stage | ms | share |``, slowest first, divided by `per` runs."""
        total = sum(self.seconds.values()) or 1.0
        rows = ["| stage | ms | share |", "| --- | ---: | ---: |"]
        for name, s in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            rows.append(f"| {name} | {1e3 * s / per:.1f} | {100 * s / total:.0f}% |")
        return "\n".join(rows)


@contextlib.contextmanager
def _stage(profile, name):
    if profile.sync:
        profile.sync()
    start = time.perf_counter()
    try:
        yield
    finally:
        if profile.sync:
            profile.sync()
        profile.add(name, time.perf_counter() - start)


def timed(profile, name):
    """A context that adds its wall time to ``profile[name]``; does nothing if `profile` is None."""
    return contextlib.nullcontext() if profile is None else _stage(profile, name)
