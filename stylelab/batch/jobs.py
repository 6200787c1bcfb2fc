"""The jobs of a folder run: which photo goes to which output, painted with which painting.

A job is a small dict, the unit a worker is sent::

    {"photo": "photos/cats/a.jpg", "rel": "cats/a.jpg", "out": "out/cats/a.png"}

``rel`` is the photo's path below the folder it was found in (a file named
on the command line: its own name), written with ``/``. The output keeps
that sub-folder tree, so class folders (ImageNet's ``n01440764/...``)
survive. A run with a folder of paintings adds ``style`` (and ``alpha``)
to each job from the seed and ``rel`` alone (:func:`assign_styles`).
"""

import hashlib
import os

import numpy as np

from ..files.atomic import check_output_folder
from ..johnson.data import list_images


def photo_jobs(inputs, out, ext=".png"):
    """One job per photo: named files as they are, folders' images (searched recursively).

    Parameters
    ----------
    inputs : list of str
        Image files and folders.
    out : str
        The output folder.
    ext : str
        The outputs' extension (their format).

    Returns
    -------
    jobs : list of dict
        ``photo``, ``rel`` and ``out`` for each photo, in the order given
        (a folder's photos sorted).
    """
    jobs, seen = [], {}
    for item in inputs:
        if os.path.isdir(item):
            found = [(p, os.path.relpath(p, item)) for p in list_images(item, "the folder")]
        elif os.path.exists(item):
            found = [(item, os.path.basename(item))]
        else:
            raise ValueError(f"no such image file or folder: {item}")
        for photo, rel in found:
            rel = rel.replace(os.sep, "/")
            target = os.path.join(out, os.path.splitext(rel)[0] + ext)
            if target in seen:
                raise ValueError(f"{seen[target]} and {photo} would both be written to {target}")
            seen[target] = photo
            jobs.append({"photo": photo, "rel": rel, "out": target})
    return jobs


def assign_styles(jobs, paintings, seed, alpha=None):
    """Give each job one of `paintings` (and an alpha in a range), from `seed` and its ``rel`` alone.

    The draw for a photo depends on nothing else -- not the number of
    workers, not the order they finish, not the other photos -- so a rerun,
    a resumed run or a run on another cluster pairs the same photo with the
    same painting. (Stylized-ImageNet left no record of its pairs; the
    manifest keeps them too.)

    Parameters
    ----------
    jobs : list of dict
        From :func:`photo_jobs`; ``style`` (a one-element list) and, when
        `alpha` is a range, ``alpha`` are set in place.
    paintings : list of str or None
        The paintings to draw from (a folder's, sorted); None: only alpha
        is drawn (every photo keeps the run's paintings).
    seed : int
    alpha : tuple (low, high), optional
        Draw alpha uniformly from ``[low, high)``.

    Examples
    --------
    >>> jobs = [{"rel": "cat.jpg"}, {"rel": "dog.jpg"}]
    >>> assign_styles(jobs, ["a.jpg", "b.jpg", "c.jpg"], seed=0)
    >>> again = [{"rel": "dog.jpg"}]
    >>> assign_styles(again, ["a.jpg", "b.jpg", "c.jpg"], seed=0)
    >>> again[0]["style"] == jobs[1]["style"]
    True
    """
    for job in jobs:
        digest = hashlib.sha256(job["rel"].encode()).digest()
        words = np.frombuffer(digest[:16], dtype="<u4").tolist()
        rng = np.random.default_rng([seed, *words])
        if paintings is not None:
            job["style"] = [paintings[int(rng.integers(len(paintings)))]]
        if alpha is not None:
            low, high = alpha
            job["alpha"] = float(low + (high - low) * rng.random())


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def check_batch_outputs(out, jobs, inputs):
    """Refuse, before any work, an output folder that would change what the run reads.

    The folder may exist (a resumed run writes into it), but it must not be a
    file, lie inside an input folder or hold one (a rerun would read its own
    pictures), and no output may be a file the run reads. Outputs are checked
    by name, not each probed: a million of them are checked in a second.

    Parameters
    ----------
    out : str
        The output folder.
    jobs : list of dict
        From :func:`photo_jobs`.
    inputs : list of str or None
        Every file and folder the run reads (photos, paintings, networks).
    """
    inputs = [os.fspath(i) for i in inputs if i is not None]
    check_output_folder(out, inputs)
    for item in inputs:
        if os.path.isdir(item) and (_inside(out, item) or _inside(item, out)):
            raise ValueError(f"refusing to write into {out}: it overlaps the input folder "
                             f"{item}, which the run would change")
    files = {os.path.realpath(i): i for i in inputs if not os.path.isdir(i)}
    folders = {}                       # each output folder resolved once, not each picture
    for job in jobs:
        folder, name = os.path.split(job["out"])
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        real = os.path.join(folders[folder], name)
        if real in files:
            raise ValueError(f"refusing to write {job['out']}: it is the input {files[real]}, "
                             f"which the run would destroy")
