"""Outputs: checked before any work, written atomically, never over an input.

Every command calls :func:`check_outputs` with every file it will write
before it starts (an output that is one of its inputs -- by name, through a
link, or a hard link -- is refused: nothing a command does may destroy what
it reads; so is one whose folder cannot be created or written), and writes
with :func:`write_atomically`: to a temporary file beside the target,
renamed when complete, so an interrupted or failed run leaves nothing
half-written. Missing parent folders are created then: that is the one rule
for every output of every command. The temporary files a killed run could
not remove are swept by the next write into the same folder.
"""

import contextlib
import os
import re
import secrets
import shutil
import time

# A temporary file's name holds the writer's process id, so a later write into
# the same folder can tell the leftovers of a killed run from a live writer's.
_TEMP = re.compile(r"\.(?:stylelab|download)-(\d+)-[0-9a-z_]+")
STALE_SECONDS = 60     # a live writer touches its file far more often than this


def _create_temp(folder, suffix, created):
    """Create a new empty file beside the target; its name goes into `created` first.

    The mode is the one any new file gets (0666 less the umask):
    ``tempfile.mkstemp`` would make it 0600, and the renamed output would be
    unreadable to everyone else. The name is recorded *before* the file
    exists, so a Ctrl-C at any moment leaves nothing the caller can't remove.
    """
    while True:
        tmp = os.path.join(folder, f".stylelab-{os.getpid()}-{secrets.token_hex(6)}{suffix}")
        created.append(tmp)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:       # not ours: forget the name, try another
            created.pop()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:            # someone else's process
        return True
    return True


def sweep_stale_temps(folder, seconds=STALE_SECONDS):
    """Remove the temporary files that killed runs left in `folder`.

    A run killed with SIGKILL (or by a power cut) cannot remove its
    temporary file. One is stale when the process named in it is gone and it
    has not been written for `seconds` (:data:`STALE_SECONDS`; 0 when the
    caller knows no writer of its own is left, as a folder run does at its
    end); only names of the form stylelab itself makes are considered.

    Returns
    -------
    removed : list of str
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = _TEMP.match(name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        full = os.path.join(folder, name)
        try:
            if now - os.stat(full).st_mtime >= seconds:
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)         # a download's folder (published networks)
                else:
                    os.unlink(full)
                removed.append(full)
        except OSError:                # gone already, or not ours to remove
            pass
    return removed


def _remove(names):
    """Remove the temporary files in `names` that exist (an interrupted write's)."""
    for name in names:
        if os.path.exists(name):
            os.unlink(name)


def new_temp(folder, suffix=""):
    """A new empty temporary file in `folder`, named as :func:`sweep_stale_temps` knows.

    For a file that is used and then removed (a download before it is
    converted); the caller removes it.
    """
    created = []
    try:
        return _create_temp(folder, suffix, created)
    except BaseException:
        _remove(created)
        raise


def write_atomically(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to `path`.

    The temporary file sits beside `path` (same file system, so the rename is
    atomic) and is removed if `write` raises or the process is interrupted;
    those that killed runs left in the folder are removed first
    (:func:`sweep_stale_temps`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    sweep_stale_temps(folder)
    created = []
    try:
        with signals_held():
            tmp = _create_temp(folder, os.path.splitext(path)[1], created)
            write(tmp)
            os.replace(tmp, path)
    except BaseException:
        _remove(created)
        raise


@contextlib.contextmanager
def signals_held():
    """Ctrl-C (and SIGTERM) wait until the block is done, then interrupt as usual.

    A write is short, and a library in the middle of one may swallow the
    interruption: h5py's callbacks print "Exception ignored ...
    KeyboardInterrupt" and the command exits 0. Held, the signal interrupts
    right after the file is complete and renamed, or removed.

    The block is given the list of signals caught so far: a long block (the
    Dask loop, :mod:`stylelab.batch.cluster`) checks it and ends early.
    """
    import signal
    import threading
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


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
        Everything the command reads; a folder stands for every file under
        it (writing a new file into it is fine).

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
    real = os.path.realpath(path)
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            # A folder is read whole (a data folder recursively): an existing
            # file anywhere under it is an input; a new one is not.
            inside = os.path.commonpath([real, os.path.realpath(item)]) == os.path.realpath(item)
            if inside and os.path.exists(path):
                raise ValueError(f"refusing to write {path}: it is in the input folder {item}, "
                                 f"which the run would change")
        elif real == os.path.realpath(item) or (
                os.path.exists(path) and os.path.exists(item) and _same_file(path, item)):
            raise ValueError(f"refusing to write {path}: it is the input {item}, which "
                             f"the run would destroy")
    _check_writable(os.path.dirname(os.path.abspath(path)), path)


def _check_writable(folder, path):
    """`folder` (to be created if missing) can take `path`: its nearest existing parent is a writable folder."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: the folder {folder} is not writable")
    name = os.path.basename(path)
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(name)) > longest:
        raise ValueError(f"cannot write {path[:60]}...: its name is {len(os.fsencode(name))} "
                         f"bytes, more than the {longest} the file system takes")
    # Permissions are not the whole story (/proc, a read-only mount, root's view of both):
    # the folder is asked to take a file, before any work.
    try:
        probe = _create_temp(folder, ".probe", [])
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: the folder {folder} takes no new file "
                         f"({(exc.strerror or str(exc)).lower()})") from None


def check_outputs(outputs, inputs=()):
    """:func:`check_output` for every one of `outputs` (None is skipped), and no two alike.

    Each command calls this once, first, with every file it will write and
    every file or folder it reads.
    """
    outputs = [os.fspath(o) for o in outputs if o is not None]
    inputs = [i for i in inputs if i is not None]
    for k, path in enumerate(outputs):
        check_output(path, inputs)
        for other in outputs[:k]:
            if os.path.realpath(other) == os.path.realpath(path):
                raise ValueError(f"{other} and {path} would both be written to the same file")


def check_output_folder(folder, inputs=()):
    """Refuse, before any work, a folder to write files into that is a file or one of the inputs.

    A run's samples may go into a new or an existing folder, but not into the
    data it reads (it would read its own samples back), nor over a file.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"cannot write into {folder}: it is a file, not a folder")
    for item in inputs:
        if item is not None and os.path.realpath(folder) == os.path.realpath(item):
            raise ValueError(f"refusing to write into {folder}: it is the input {item}")
    _check_writable(os.path.abspath(folder), folder)


@contextlib.contextmanager
def claimed(path, hint="give this one another --checkpoint"):
    """Hold `path` for this process alone while the block runs (a training run's checkpoint).

    The claim is a file ``.NAME.lock`` beside `path` holding this process's id,
    made with ``O_EXCL`` so that two runs cannot both make it. A claim whose
    process is gone (killed with SIGKILL) is taken over; one whose process
    runs is refused in one line, ending with `hint`: two runs writing one
    checkpoint (or one manifest) would each overwrite the other's state.
    """
    folder, name = os.path.split(os.path.abspath(path))
    made = []                                  # folders made for the claim, deepest last
    parent = folder
    while not os.path.isdir(parent):
        made.insert(0, parent)
        parent = os.path.dirname(parent)
    os.makedirs(folder, exist_ok=True)
    lock = os.path.join(folder, f".{name}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                with open(lock) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ValueError(f"{path} is being written by another run (process {pid}); "
                                 f"wait for it to finish, or {hint}") from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)                    # its process is gone: a stale claim
    else:
        raise ValueError(f"{path}: cannot claim it ({lock} keeps coming back)")
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        for made_folder in reversed(made):     # a run refused before writing leaves nothing
            with contextlib.suppress(OSError):
                os.rmdir(made_folder)


def check_space(path, nbytes, slack=1 << 20):
    """Refuse to start writing `nbytes` (and some slack) where the disk has less free.

    A full disk in the middle of an HDF5 write does not fail cleanly: h5py can
    end in a crash with its temporary file corrupt. Asked first, the answer is
    one line and nothing written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    free = shutil.disk_usage(folder).free
    if nbytes + slack > free:
        raise ValueError(f"cannot write {path}: it takes about {(nbytes + slack) / 1e6:.1f} MB "
                         f"and {folder} has {free / 1e6:.1f} MB free")
