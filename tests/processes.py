"""Starting a stylelab process in a test: it never outlives the test.

:func:`started` gives the child default SIGINT handling whatever the
parent's (a parent that ignores SIGINT -- a background job, ``nohup`` --
would pass that on, and Python would then never raise KeyboardInterrupt in
the child), and kills it in a ``finally`` when the test fails half-way.
"""

import contextlib
import signal
import subprocess
import sys
import time


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def started(args, **popen):
    """``python -m stylelab *args`` running; killed and reaped on the way out."""
    proc = subprocess.Popen([sys.executable, "-m", "stylelab", *map(str, args)],
                            preexec_fn=_default_sigint, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def wait_until(ready, proc, seconds=120):
    """Poll `ready()` until it holds; fail if `proc` ends first or time runs out."""
    deadline = time.time() + seconds
    while not ready():
        assert proc.poll() is None, "the process ended before it was ready"
        assert time.time() < deadline, "the process was not ready in time"
        time.sleep(0.02)
