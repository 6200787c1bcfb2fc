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

# What a record holds about how its picture was made: a photo is done only if these match.
SETTINGS = ("method", "models", "size", "dtype", "style", "style_weights", "alpha", "seed",
            "options")


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


def read_manifest(path):
    """{photo's rel: its last record} from a manifest; missing file: {}; broken lines skipped."""
    records = {}
    _check_plain(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return records
    with f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:           # a line cut short by a killed run
                continue
            if isinstance(record, dict) and isinstance(record.get("photo"), str):
                records[record["photo"]] = record
    return records


def is_done(record, job, settings, out):
    """Whether `record` says `job` was painted with `settings` and both files are unchanged."""
    if record is None or record.get("status") != "done":
        return False
    if any(record.get(k) != v for k, v in settings.items()):
        return False
    try:
        return (record.get("photo_stat") == file_stat(job["photo"])
                and record.get("out_stat") == file_stat(os.path.join(out, record["out"])))
    except (OSError, TypeError):
        return False


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
