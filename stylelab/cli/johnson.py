"""``stylelab stylize`` and ``stylelab upscale``: one forward pass of a trained network.

``stylize`` paints with a network trained here or one published in
TensorFlow, PyTorch or Torch7 (:mod:`stylelab.files.foreign`; a file, a
deeplearn.js folder, or the name of a downloaded one); ``upscale`` with a
super-resolution network. One photo is painted here and now; a folder (or
several photos) is a folder run (:mod:`stylelab.batch`): sub-folders kept,
each picture recorded in the manifest, already painted ones skipped, on
this machine or on a Dask cluster (``--workers``, ``--scheduler``). The
networks and every output name are checked before any work is done.
"""

import os

import numpy as np

from ..batch import check_batch_outputs, photo_jobs, run_batch
from ..batch.manifest import files_sha256
from ..files.atomic import check_outputs
from ..files.foreign import read_network
from ..files.images import image_format, image_shape, load_image, save_image
from ..files.limits import available_memory, check_memory
from ..files.model_file import load_task_model
from ..files.published import resolve_network
from ..nets.tiled import apply_tiled, tiled_inference_bytes
from .argtypes import positive_int
from .common import add_batch_arguments, check_single, finish_batch, note_random_weights


def add_stylize_arguments(p):
    p.add_argument("--model", required=True, help="a style network: from `stylelab train`, a "
                   "published one (a deeplearn.js folder, a pytorch/examples .pth, a "
                   "jcjohnson .t7), or the name of one `stylelab models download` fetched")
    p.add_argument("inputs", nargs="+", metavar="IN", help="images or folders of images")
    p.add_argument("--out", required=True, help="an image file for one input; else a folder "
                   "(created if needed) that gets each IN's name with .png, a folder's "
                   "sub-folders kept, and manifest.jsonl")
    p.add_argument("--size", type=positive_int, help="resize inputs so their longest side is "
                   "this many pixels (default: as they are)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")
    p.add_argument("--tile", type=positive_int, metavar="T", help="run the network layer by "
                   "layer over T x T tiles: the same picture (the whole picture's instance-norm "
                   "statistics), in memory that follows T; for pictures too large otherwise")
    p.add_argument("--quiet", action="store_true", help="no progress bar (a folder run)")
    add_batch_arguments(p)


def add_upscale_arguments(p):
    p.add_argument("--model", required=True, help="a super-resolution network from "
                   "`stylelab train-sr`")
    p.add_argument("input", metavar="IN", help="the low-resolution image, or a folder of them")
    p.add_argument("out", metavar="OUT", help="the upscaled image (.png or .jpg), or a folder "
                   "for a folder IN (sub-folders kept)")
    p.add_argument("--size", type=positive_int, help="first resize the input so its longest "
                   "side is this many pixels (default: as it is)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")
    p.add_argument("--tile", type=positive_int, metavar="T", help="run the network layer by "
                   "layer over T x T tiles: the same picture (the whole picture's instance-norm "
                   "statistics), in memory that follows T; for pictures too large otherwise")
    p.add_argument("--quiet", action="store_true", help="no progress bar (a folder run)")
    add_batch_arguments(p)


class NetworkPainter:
    """Paints a photo with one forward pass of a network (a style or a super-resolution one).

    The painter of ``stylize`` and ``upscale``: it pickles as its settings
    (the network is loaded where it paints, once), for a folder run
    (:mod:`stylelab.batch`) as much as for one photo.
    """

    def __init__(self, method, model, size, dtype, tile=None):
        self.method, self.model, self.size, self.dtype = method, model, size, dtype
        self.tile = tile
        self.net = self.meta = None

    def __getstate__(self):
        return {**self.__dict__, "net": None, "meta": None}

    def settings(self):
        return {"method": self.method, "models": {"network": files_sha256(self.model)},
                "size": self.size, "dtype": self.dtype}     # --tile: the same pictures

    def load(self):
        if self.net is None:
            if self.method == "stylize":
                self.net, self.meta = read_network(self.model, dtype=self.dtype)
            else:
                self.net, self.meta = load_task_model(self.model, "super-resolution",
                                                      self.dtype)
        return self

    def paint(self, job):
        """The picture for ``job["photo"]``; with --tile, layer by layer over tiles
        (:mod:`stylelab.nets.tiled`), the activations spilled to files beside
        ``job["out"]`` when even that does not fit in memory."""
        photo = job["photo"]
        h, w = image_shape(photo, self.size)
        picture = 2 * h * w * 3 * np.dtype(self.net.dtype).itemsize    # the photo and its output
        if not self.tile:
            check_memory(self.net.inference_bytes(h, w) + picture, f"{photo} at {w}x{h}",
                         "give a smaller --size, or --tile 512 (the same picture in less memory)")
            return self.net.apply(load_image(photo, size=self.size, dtype=self.net.dtype))
        free = available_memory()
        spill = None
        if free is not None and tiled_inference_bytes(self.net, h, w, self.tile) + picture > free:
            spill = os.path.dirname(os.path.abspath(job["out"]))
            os.makedirs(spill, exist_ok=True)
        img = load_image(photo, size=self.size, dtype=self.net.dtype)
        return apply_tiled(self.net, img, self.tile, spill)


def _is_batch(inputs):
    """Whether the inputs are a folder run's: a folder, or more than one photo."""
    return len(inputs) > 1 or any(os.path.isdir(i) for i in inputs)


def _run_batch(args, painter, inputs, reads):
    """A folder run of `painter` over `inputs` into the folder --out (docs/scale.md)."""
    if os.path.splitext(args.out)[1] and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} names a file, but a folder run writes a folder "
                         f"of pictures; give a folder")
    jobs = photo_jobs(inputs, args.out)
    check_batch_outputs(args.out, jobs, [*inputs, *reads])
    painter.load()              # every network checked here, before any worker starts
    result = run_batch(painter, jobs, args.out, args.workers, args.scheduler, args.quiet)
    return result


def _single_output(photo, out):
    """The one picture's name: --out itself, or the photo's name in the folder --out."""
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        return os.path.join(out, os.path.splitext(os.path.basename(photo))[0] + ".png")
    if not os.path.splitext(out)[1]:
        raise ValueError(f"--out {out} has no extension: name the picture ({out}.png), or end "
                         f"it with / to write into a folder")
    image_format(out)
    return out


def run_stylize(args):
    model = resolve_network(args.model)
    painter = NetworkPainter("stylize", model, args.size, args.dtype, args.tile)
    if _is_batch(args.inputs):
        result = _run_batch(args, painter, args.inputs, [model])
        finish_batch(result, args.out, f"{args.model}")
        meta = painter.meta
    else:
        check_single(args, args.inputs[0])
        if not os.path.exists(args.inputs[0]):
            raise ValueError(f"no such image file or folder: {args.inputs[0]}")
        out = _single_output(args.inputs[0], args.out)
        check_outputs([out], inputs=[args.inputs[0], model])
        meta = painter.load().meta
        save_image(out, painter.paint({"photo": args.inputs[0], "out": out}))
        print(f"{out}: {args.inputs[0]} in the style of {meta.get('style_name', 'its style')}"
              + (f" ({meta['source_format']} network)" if "source_format" in meta else ""))
    note_random_weights(meta.get("loss_network"), "the network's training loss network")


def run_upscale(args):
    painter = NetworkPainter("upscale", args.model, args.size, args.dtype, args.tile)
    if _is_batch([args.input]):
        result = _run_batch(args, painter, [args.input], [args.model])
        finish_batch(result, args.out, f"{args.model}")
    else:
        check_single(args, args.input)
        image_format(args.out)
        check_outputs([args.out], inputs=[args.input, args.model])
        painter.load()
        y = painter.paint({"photo": args.input, "out": args.out})
        save_image(args.out, y)
        print(f"{args.out}: {y.shape[1] // int(painter.net.factor)}x"
              f"{y.shape[0] // int(painter.net.factor)} -> {y.shape[1]}x{y.shape[0]} "
              f"(x{int(painter.net.factor)})")
    note_random_weights(painter.meta.get("loss_network"), "the network's training loss network")
