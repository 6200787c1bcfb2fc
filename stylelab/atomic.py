"""Atomic file writes: a failure never leaves a half-written output behind."""

import os
import tempfile


def write_atomically(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to `path`.

    The temporary file sits beside `path` (same file system, so the rename is
    atomic) and is removed if `write` raises or the process is interrupted.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".stylelab-",
                               suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
