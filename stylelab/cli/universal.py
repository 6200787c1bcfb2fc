"""``stylelab wct``: universal style transfer (Li et al. 2017) from the command line.

Two roads from the transformed features back to pixels: ``--decoders DIR``
(trained decoders ``DIR/relu5_1.h5`` ... ``relu1_1.h5`` from ``stylelab
train-decoder``) or ``--invert`` (L-BFGS on the image; nothing but the VGG-19
weights). Everything is checked before any work is done; the picture is
written atomically.
"""

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

from ..backend import to_numpy
from ..files.atomic import check_outputs
from ..files.images import image_format, load_image, resize_image, save_image
from ..files.vgg_h5 import weights_source
from ..files.weights import find_weights, load_paper_vgg
from ..gatys.objective import blend_weights
from ..nets.decoder import level_layer
from ..universal.cascade import (LEVELS, check_levels, check_style_options, load_decoders,
                                 universal_transfer)
from ..universal.wct import EPS
from .argtypes import non_negative_float, positive_int
from .common import duration, report


def level_list(text):
    """``"5,4,3"`` -> (5, 4, 3), checked."""
    try:
        return check_levels(int(t) for t in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (got {text!r})") from None


def add_arguments(p):
    p.add_argument("--content", required=True, help="the photograph")
    p.add_argument("--style", required=True, nargs="+", help="one or more style images")
    p.add_argument("--out", required=True, help="the output picture (.png or .jpg)")
    road = p.add_mutually_exclusive_group(required=True)
    road.add_argument("--decoders", metavar="DIR", help="a folder of trained decoders "
                      "relu5_1.h5 ... relu1_1.h5 (from `stylelab train-decoder`)")
    road.add_argument("--invert", action="store_true", help="no decoders: invert the "
                      "features by L-BFGS on the image (slower)")
    p.add_argument("--alpha", type=non_negative_float, default=0.6,
                   help="how much of the transformed features to keep, 0..1 (default: 0.6)")
    p.add_argument("--levels", type=level_list, default=LEVELS,
                   help="comma-separated levels to run, coarse to fine (default: 5,4,3,2,1)")
    p.add_argument("--style-weights", type=non_negative_float, nargs="+",
                   help="interpolate between the styles with these weights (default: equal)")
    p.add_argument("--mask", help="a picture assigning regions to the styles: grey level "
                   "round(v * (styles - 1)) picks the style (two styles: black the first, "
                   "white the second)")
    p.add_argument("--weights", help="VGG-19 weights (default: $STYLELAB_WEIGHTS, else the "
                   "cache, else download them)")
    p.add_argument("--size", type=positive_int, default=512,
                   help="longest side of the output in pixels (default: 512)")
    p.add_argument("--style-size", type=positive_int,
                   help="longest side of the style images (default: --size)")
    p.add_argument("--iterations", type=positive_int, default=50,
                   help="L-BFGS iterations per level with --invert (default: 50)")
    p.add_argument("--tv-weight", type=non_negative_float, default=0.0,
                   help="total variation weight of the inversion (default: 0)")
    p.add_argument("--eps", type=non_negative_float, default=EPS,
                   help=f"eigenvalues below eps * the largest are left out (default: {EPS:g})")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_args(args):
    image_format(args.out)          # a known picture type
    check_outputs([args.out], [args.content, *args.style, args.mask, args.decoders,
                               args.weights or find_weights("vgg19")])
    if not args.alpha <= 1:
        raise ValueError(f"--alpha must be between 0 and 1, got {args.alpha:g}")
    check_style_options(len(args.style), args.style_weights, args.mask is not None)
    if args.style_weights:
        blend_weights(args.style_weights, len(args.style), what="--style-weights")
    if args.decoders and not os.path.isdir(args.decoders):
        raise ValueError(f"--decoders {args.decoders}: no such folder")


def _load_mask(path, shape):
    """The mask's grey levels (H, W) on the host, at the content's size."""
    # nearest: the grey levels name styles, keep them exact (resize_image skips a same size)
    img = resize_image(load_image(path, dtype=np.float64), *shape, resample=Image.NEAREST)
    return to_numpy(img).mean(axis=2)


def run(args):
    _check_args(args)
    net, weights_path = load_paper_vgg(args.weights, "vgg19", np.dtype(args.dtype),
                                       "encoder", level_layer(args.levels[0]), args.quiet)
    decoders = (load_decoders(args.decoders, net, args.levels, encoder_name=weights_path)
                if args.decoders else None)
    content = load_image(args.content, size=args.size, dtype=net.dtype)
    styles = [load_image(s, size=args.style_size or args.size, dtype=net.dtype)
              for s in args.style]
    mask = _load_mask(args.mask, content.shape[:2]) if args.mask else None

    from tqdm import tqdm
    total = len(args.levels) * (1 if decoders else args.iterations)
    bar = tqdm(total=total, disable=args.quiet, dynamic_ncols=True, desc="wct",
               unit=" level" if decoders else " L-BFGS it")

    def progress(level, iteration, x, loss):
        bar.set_description(f"wct {level_layer(level)}", refresh=False)
        if loss is not None:
            bar.set_postfix_str(f"feature loss {loss:.4g}", refresh=False)
        bar.update(1)
        return False

    start = time.perf_counter()
    try:
        result = universal_transfer(net, content, styles, decoders=decoders, levels=args.levels,
                                    alpha=args.alpha, style_weights=args.style_weights,
                                    mask=mask, iterations=args.iterations,
                                    tv_weight=args.tv_weight, eps=args.eps, callback=progress)
    finally:
        bar.close()
    save_image(args.out, result.image)
    road = ("decoders" if decoders else f"inversion, {args.iterations} L-BFGS iterations a "
            f"level, {result.evaluations} evaluations")
    summary = (f"{args.out}: WCT at {', '.join(level_layer(v) for v in result.levels)} "
               f"({road}) at {content.shape[0]}x{content.shape[1]} in "
               f"{duration(time.perf_counter() - start)}")
    report(summary, result.stopped, "the image so far")
    if "random weights" in weights_source(weights_path):
        print("stylelab: note: the VGG-19 weights are random weights; this picture shows "
              "the machinery, not a style", file=sys.stderr)
