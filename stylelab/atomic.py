"""Atomic file writes: a failure never leaves a half-written output behind."""

import os
import secrets


def _create_temp(folder, suffix):
    """A new empty file beside the target, with the mode any new file gets (0666 less the umask).

    ``tempfile.mkstemp`` would make it 0600, and the renamed output would be
    unreadable to everyone else.
    """
    while True:
        tmp = os.path.join(folder, f".stylelab-{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


def write_atomically(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to `path`.

    The temporary file sits beside `path` (same file system, so the rename is
    atomic) and is removed if `write` raises or the process is interrupted.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = _create_temp(folder, os.path.splitext(path)[1])
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
