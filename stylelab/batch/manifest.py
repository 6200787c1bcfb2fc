"""The manifest: one JSON line per picture in the output folder, the run's record and its memory.

A record says where a picture came from and how it was made::

    {"photo": "cats/a.jpg", "photo_sha256": "...", "out": "cats/a.png", "out_sha256": "...",
     "method": "adain", "models": {"encoder": "<sha256>", "decoder": "<sha256>"},
     "style": ["paintings/monet.jpg"], "style_sha256": ["..."], "alpha": 1.0, "seed": 0,
     "size": 512, "seconds": 0.41, "worker": "host:pid", "status": "done", ...}

(``status`` is ``failed`` with a one-line ``reason`` for a photo that could
not be painted.) The file is appended to, a line at a time, and flushed to
disk after each: a run killed mid-line leaves at most one broken last line,
which the reader skips. A later line about the same photo replaces an
earlier one.

A photo is *done* -- skipped by the same command run again -- when its
last record says so with the same settings, and both the photo and the
picture still have the size and modification time recorded. Comparing
those, not the contents, keeps resuming a million pictures at one
``stat`` each; the SHA-256s are the provenance.
"""

import hashlib
import json
import os
import stat

from ..files.convert import sha256_of

MANIFEST = "manifest.jsonl"

# The settings a job may hold for itself (a painting and an alpha drawn from the seed).
PER_JOB = ("style", "alpha")


def file_stat(path):
    """``[size, mtime_ns]`` of a file: what says it has not changed since it was recorded."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def files_sha256(path):
    """The SHA-256 of a file, or of a folder's files (their names and digests, sorted).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "a"), "wb").write(b"abc")
    >>> files_sha256(os.path.join(d, "a"))[:16]
    'ba7816bf8f01cfea'
    """
    if not os.path.isdir(path):
        return sha256_of(path)
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            digest.update(f"{rel}\0{sha256_of(full)}\n".encode())
    return digest.hexdigest()


def _check_plain(path):
    """Refuse a manifest that is a link, a folder, a pipe: appending must not reach another file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a plain file (a link, a folder or a device); a folder "
                         f"run keeps its manifest there: move it away, or give another --out")


def _records(path):
    """Each record of a manifest, in order; broken lines (a killed run's last) skipped."""
    _check_plain(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:           # a line cut short by a killed run
                continue
            if isinstance(record, dict) and isinstance(record.get("photo"), str):
                yield record


def read_manifest(path):
    """{photo's rel: its last record} from a manifest; a missing file: {}."""
    return {record["photo"]: record for record in _records(path)}


def _fingerprint(style, alpha, photo_stat, out, out_stat):
    """One number for what makes a photo done: its painting and alpha, both files' stats."""
    return hash((json.dumps(style), alpha, tuple(photo_stat or ()), out, tuple(out_stat or ())))


def done_index(path, settings):
    """What a resumed run checks, kept small: the photos recorded as done with `settings`.

    A million full records would take gigabytes; this keeps one number per
    photo whose last record says done with the run's settings -- a
    fingerprint of what :func:`is_done` compares (about 160 bytes a photo
    with its name: 200 MB for ImageNet's 1.28 million).

    Parameters
    ----------
    path : str
        The manifest.
    settings : dict
        The run's settings as JSON gives them back (lists, not tuples),
        without a job's own ``style`` and ``alpha``.

    Returns
    -------
    dict
        ``{rel: fingerprint}``.
    """
    index = {}
    for record in _records(path):
        rel = record["photo"]
        if record.get("status") == "done" and all(record.get(k) == v
                                                  for k, v in settings.items()):
            index[rel] = _fingerprint(record.get("style"), record.get("alpha"),
                                      record.get("photo_stat"), record.get("out"),
                                      record.get("out_stat"))
        else:
            index.pop(rel, None)          # a later record replaces an earlier one
    return index


def is_done(entry, job, style, alpha, out):
    """Whether a :func:`done_index` entry says `job` is done with this painting and alpha,
    and both its files are as recorded."""
    if entry is None:
        return False
    try:
        stats = file_stat(job["photo"]), file_stat(job["out"])
    except OSError:
        return False
    return entry == _fingerprint(style, alpha, stats[0], out_rel(job, out), stats[1])


def out_rel(job, out):
    """A job's picture as the manifest names it: its path below `out`, ``/``-separated."""
    return os.path.relpath(job["out"], out).replace(os.sep, "/")


class ManifestWriter:
    """Appends records to the manifest, each line flushed to disk before the next.

    Use as a context manager; one process (the one that runs the command)
    writes, however many workers paint.
    """

    def __init__(self, path):
        self.path = path
        self.file = None

    def __enter__(self):
        _check_plain(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        self.file = os.fdopen(fd, "ab")
        if self.file.tell():                      # finish a line a killed run cut short
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self.file.write(b"\n")
        return self

    def write(self, record):
        self.file.write(json.dumps(record, sort_keys=True).encode() + b"\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def __exit__(self, *exc):
        self.file.close()
