"""Atomic file writes: a failure never leaves a half-written output behind."""

import os
import secrets


def _create_temp(folder, suffix, created):
    """Create a new empty file beside the target; its name goes into `created` first.

    The mode is the one any new file gets (0666 less the umask):
    ``tempfile.mkstemp`` would make it 0600, and the renamed output would be
    unreadable to everyone else. The name is recorded *before* the file
    exists, so a Ctrl-C at any moment leaves nothing the caller can't remove.
    """
    while True:
        tmp = os.path.join(folder, f".stylelab-{secrets.token_hex(6)}{suffix}")
        created.append(tmp)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:       # not ours: forget the name, try another
            created.pop()


def write_atomically(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to `path`.

    The temporary file sits beside `path` (same file system, so the rename is
    atomic) and is removed if `write` raises or the process is interrupted.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    created = []
    try:
        tmp = _create_temp(folder, os.path.splitext(path)[1], created)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        for name in created:
            if os.path.exists(name):
                os.unlink(name)
        raise
