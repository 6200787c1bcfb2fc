"""Opening an HDF5 file as untrusted data: only plain datasets inside the file itself.

An HDF5 file can make its reader read *other* files: a name can be an
external link into another file, a dataset can keep its bytes in an
external file (``/etc/passwd``, say), and a virtual dataset can be mapped
onto datasets of other files. It can also declare far more data than it
holds: a compressed or never-written dataset of 4e9 floats takes a few
kilobytes on disk and 16 GB once read.

:func:`open_hdf5` walks the whole file before anything is read from it and
refuses, naming the object: links of any kind but plain ones (external and
soft), datasets with external storage, virtual datasets, datasets that are
not plain numbers, and datasets or attributes whose declared size the file
cannot account for (more than :data:`MAX_EXPANSION` times the bytes stored,
or more than :data:`MAX_ATTRIBUTE_BYTES` for an attribute). Every HDF5 file
stylelab reads goes through it: VGG weights, Keras files, model files and
checkpoints.
"""

import os

import h5py

from .limits import count, one_line

MAX_EXPANSION = 64               # declared bytes per stored byte (float weights barely compress)
SLACK_BYTES = 1 << 16            # small datasets and attributes are stored compactly
MAX_ATTRIBUTE_BYTES = 1 << 20
MAX_ATTRIBUTES_TOTAL = 4 << 20   # all attributes together (a model file's are a few kilobytes)
MAX_OBJECTS = 10000              # a weight file has hundreds


def open_hdf5(path, what="an HDF5 file"):
    """The file open for reading, after :func:`audit`; a one-line ``ValueError`` otherwise.

    Parameters
    ----------
    path : str
    what : str
        What the file should be, for the message when it is not HDF5.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not {what}")
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path} is not {what} ({one_line(exc, 200)})") from None
    try:
        audit(f, path)
    except BaseException:
        f.close()
        raise
    return f


def audit(f, path):
    """Refuse anything in `f` that would read outside it or declare more than it holds."""
    budget = max(os.path.getsize(path), 1) * MAX_EXPANSION + SLACK_BYTES
    state = {"objects": 0, "declared": 0, "attributes": 0}

    def check_attributes(obj, where):
        for name in obj.attrs:
            attr = obj.attrs.get_id(name)
            declared = attr.dtype.itemsize * count(attr.shape or ())
            if declared <= MAX_ATTRIBUTE_BYTES and attr.dtype.kind == "O":
                # Variable-length strings: the fixed size is a pointer's. Their text is in
                # the file (so no larger than it); it is measured, not trusted.
                value = obj.attrs[name]
                values = value.reshape(-1) if hasattr(value, "reshape") else [value]
                declared = sum(len(v) if isinstance(v, (str, bytes)) else 16 for v in values)
            state["attributes"] += declared
            if declared > MAX_ATTRIBUTE_BYTES or state["attributes"] > MAX_ATTRIBUTES_TOTAL:
                raise ValueError(f"{path}: attribute {where}@{name} takes {declared} bytes "
                                 f"({state['attributes']} in all); refused (more than a weight "
                                 f"file's attributes hold)")

    def walk(group, prefix):
        check_attributes(group, prefix or "/")
        for name in group:
            state["objects"] += 1
            if state["objects"] > MAX_OBJECTS:
                raise ValueError(f"{path}: more than {MAX_OBJECTS} objects; refused")
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise ValueError(f"{path}: {where} is an external link to {link.filename}; "
                                 f"refused (a file may only hold its own data)")
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f"{path}: {where} is a {type(link).__name__}; refused (only "
                                 f"plain groups and datasets are read)")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                walk(obj, where)
            elif isinstance(obj, h5py.Dataset):
                check_dataset(obj, where)
                check_attributes(obj, where)
            else:
                raise ValueError(f"{path}: {where} is a {type(obj).__name__}; refused")

    def check_dataset(ds, where):
        if ds.is_virtual:
            raise ValueError(f"{path}: {where} is a virtual dataset, mapped onto other files; "
                             f"refused (a file may only hold its own data)")
        if ds.external:
            raise ValueError(f"{path}: {where} keeps its bytes in the external file "
                             f"{ds.external[0][0]}; refused (a file may only hold its own data)")
        if ds.dtype.kind not in "fiub":
            raise ValueError(f"{path}: {where} holds {ds.dtype}, not numbers; refused")
        declared = ds.dtype.itemsize * count(ds.shape or ())
        stored = ds.id.get_storage_size()
        state["declared"] += declared
        if declared > stored * MAX_EXPANSION + SLACK_BYTES or state["declared"] > budget:
            raise ValueError(f"{path}: {where} declares {declared} bytes but the file stores "
                             f"{stored} for it; refused (a few kilobytes that read as "
                             f"gigabytes)")

    walk(f, "")

