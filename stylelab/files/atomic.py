"""Outputs: checked before any work, written atomically, never over an input.

Every command calls :func:`check_output` on each file it will write before it
starts (an output that is one of its inputs -- by name, through a link, or a
hard link -- is refused: nothing a command does may destroy what it reads),
and writes with :func:`write_atomically`: to a temporary file beside the
target, renamed when complete, so an interrupted or failed run leaves
nothing half-written. Missing parent folders are created then.
"""

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
    os.makedirs(folder, exist_ok=True)
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


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)          # hard links: the same inode
    except OSError:
        return False


def check_output(path, inputs=()):
    """Refuse, before any work, an output that cannot be written or would destroy an input.

    Parameters
    ----------
    path : str
        A file the command will write (its folders may not exist yet).
    inputs : iterable of str
        Everything the command reads; a folder stands for itself and every
        file in it (writing a new file into it is fine).

    Raises
    ------
    ValueError
        `path` is an existing folder, is one of the inputs (by name, through
        a link, or as a hard link), or its nearest existing folder is a file
        or not writable.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"cannot write {path}: it is a folder")
    for item in inputs:
        item = os.fspath(item)
        members = [item]
        if os.path.isdir(item):
            members += [os.path.join(item, n) for n in os.listdir(item)]
        for member in members:
            if os.path.realpath(path) == os.path.realpath(member) or (
                    os.path.exists(path) and os.path.exists(member) and _same_file(path, member)):
                raise ValueError(f"refusing to write {path}: it is the input {member}, which "
                                 f"the run would destroy")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: the folder {folder} is not writable")
