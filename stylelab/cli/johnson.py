"""``stylelab stylize`` and ``stylelab upscale``: one forward pass of a trained network.

``stylize`` takes any number of images and folders and writes one picture
per input, with a network trained here or one published in TensorFlow,
PyTorch or Torch7 (:mod:`stylelab.files.foreign`; a file, a deeplearn.js
folder, or the name of a downloaded one); ``upscale`` takes one image. Every
input is checked to be readable, and every output name to be free of
clashes and of the inputs, before any work is done.
"""

import os
import sys

import numpy as np

from ..files.atomic import check_outputs
from ..files.foreign import read_network
from ..files.images import image_format, image_shape, load_image, save_image
from ..files.model_file import load_task_model
from ..files.published import resolve_network
from ..johnson.data import list_images
from .argtypes import positive_int
from ..files.limits import check_memory
from .common import note_random_weights


def add_stylize_arguments(p):
    p.add_argument("--model", required=True, help="a style network: from `stylelab train`, a "
                   "published one (a deeplearn.js folder, a pytorch/examples .pth, a "
                   "jcjohnson .t7), or the name of one `stylelab models download` fetched")
    p.add_argument("inputs", nargs="+", metavar="IN", help="images or folders of images")
    p.add_argument("--out", required=True, help="an image file for one input; else a folder "
                   "(created if needed) that gets IN's name with .png")
    p.add_argument("--size", type=positive_int, help="resize inputs so their longest side is "
                   "this many pixels (default: as they are)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")


def add_upscale_arguments(p):
    p.add_argument("--model", required=True, help="a super-resolution network from "
                   "`stylelab train-sr`")
    p.add_argument("input", metavar="IN", help="the low-resolution image")
    p.add_argument("out", metavar="OUT", help="the upscaled image (.png or .jpg)")
    p.add_argument("--size", type=positive_int, help="first resize the input so its longest "
                   "side is this many pixels (default: as it is)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")


def _expand_inputs(inputs):
    """The files to run: named ones as they are, folders' images (searched recursively).

    Returns the files and, separately, those found in folders (an unreadable one
    of those is skipped; a named file that cannot be read is an error).
    """
    files, found = [], set()
    for item in inputs:
        if os.path.isdir(item):
            listed = list_images(item)
            files += listed
            found.update(listed)
        elif os.path.exists(item):
            files.append(item)
        else:
            raise ValueError(f"no such image file or folder: {item}")
    return files, found


def _load_all(files, found, size, dtype):
    """Read every input before any work; unreadable folder members are skipped."""
    images, skipped = {}, []
    for f in files:
        try:
            images[f] = load_image(f, size=size, dtype=dtype)
        except ValueError:
            if f not in found:
                raise
            skipped.append(f)
    if not images:
        raise ValueError(f"none of the {len(files)} input images could be read")
    return images, skipped


def _output_names(files, out, found=()):
    """{input: output}; one input may go to a file, several go into a folder."""
    ext = os.path.splitext(out)[1].lower()
    if (len(files) == 1 and files[0] not in found and not ext and not os.path.isdir(out)
            and not out.endswith(("/", os.sep))):
        raise ValueError(f"--out {out} has no extension: name the picture ({out}.png), or end "
                         f"it with / to write into a folder")
    if len(files) == 1 and ext and not os.path.isdir(out):
        image_format(out)
        return {files[0]: out}
    if ext and not os.path.isdir(out):
        raise ValueError(f"--out {out} names a file, but there are {len(files)} inputs; "
                         f"give a folder")
    names = {f: os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".png")
             for f in files}
    seen = {}
    for f, o in names.items():
        if o in seen:
            raise ValueError(f"{seen[o]} and {f} would both be written to {o}")
        seen[o] = f
    return names


def _check_picture_memory(net, path, h, w):
    """Refuse, before any work, a picture the network cannot run on in the memory there is."""
    picture = 2 * h * w * 3 * np.dtype(net.dtype).itemsize          # the photo and its output
    check_memory(net.inference_bytes(h, w) + picture, f"{path} at {w}x{h}",
                 "give a smaller --size")


def run_stylize(args):
    model = resolve_network(args.model)
    net, meta = read_network(model, dtype=args.dtype)
    files, found = _expand_inputs(args.inputs)
    outputs = _output_names(files, args.out, found)
    check_outputs(outputs.values(), inputs=[*files, model])
    for f in files:                # each picture's cost, from its header, before any work
        try:
            h, w = image_shape(f, args.size)
        except ValueError:
            continue                   # unreadable: said when it is loaded
        _check_picture_memory(net, f, h, w)
    images, skipped = _load_all(files, found, args.size, net.dtype)
    for f in list(images):
        save_image(outputs[f], net.apply(images.pop(f)))
        print(f"{outputs[f]}: {f} in the style of {meta.get('style_name', 'its style')}"
              + (f" ({meta['source_format']} network)" if "source_format" in meta else ""))
    if skipped:
        print(f"stylelab: skipped {len(skipped)} unreadable file(s): {', '.join(skipped)}",
              file=sys.stderr)
    note_random_weights(meta.get("loss_network"), "the network's training loss network")


def run_upscale(args):
    net, meta = load_task_model(args.model, "super-resolution", args.dtype)
    image_format(args.out)
    check_outputs([args.out], inputs=[args.input, args.model])
    _check_picture_memory(net, args.input, *image_shape(args.input, args.size))
    img = load_image(args.input, size=args.size, dtype=net.dtype)
    y = net.apply(img)
    save_image(args.out, y)
    print(f"{args.out}: {img.shape[1]}x{img.shape[0]} -> {y.shape[1]}x{y.shape[0]} "
          f"(x{int(net.factor)})")
    note_random_weights(meta.get("loss_network"), "the network's training loss network")
