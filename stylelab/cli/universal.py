"""``stylelab wct``: universal style transfer (Li et al. 2017) from the command line.

Two roads from the transformed features back to pixels: ``--decoders DIR``
(trained decoders ``DIR/relu5_1.h5`` ... ``relu1_1.h5`` from ``stylelab
train-decoder``) or ``--invert`` (L-BFGS on the image; nothing but the VGG-19
weights). Everything is checked before any work is done; the picture is
written atomically.
"""

import os
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
from ..universal.cascade import (LEVELS, check_style_options, load_decoders,
                                 universal_transfer)
from ..files.released import (RELEASES, check_normalised, is_wct_release, release_folder,
                              wct_release)
from ..files.weights import load_vgg
from ..universal.wct import CONVENTIONS, EPS
from .argtypes import level_list, non_negative_float, positive_int
from .common import (DEFAULT_SIZE, add_what_to_paint, duration, note_random_weights, report,
                     status)


def add_arguments(p):
    """The arguments of ``stylelab wct``, grouped as the README shows them."""
    add_what_to_paint(p)
    g = p.add_argument_group("back to pixels (one of)")
    road = g.add_mutually_exclusive_group(required=True)
    road.add_argument("--decoders", metavar="DIR", help="a folder of trained decoders "
                      "relu5_1.h5 ... relu1_1.h5 (from `stylelab train-decoder --levels`), or "
                      "Li et al.'s release as published: vgg_normalised_conv{L}_1.t7 and "
                      "feature_invertor_conv{L}_1.t7 (its encoder is then the default weights)")
    road.add_argument("--invert", action="store_true", help="no decoders: invert the "
                      "features by L-BFGS on the image (slower)")
    g = p.add_argument_group("the transfer")
    g.add_argument("--alpha", type=non_negative_float, default=0.6,
                   help="how much of the transformed features to keep, 0..1")
    g.add_argument("--levels", type=level_list, default=",".join(map(str, LEVELS)),
                   help="comma-separated levels to run, coarse to fine")
    g.add_argument("--style-weights", type=non_negative_float, nargs="+",
                   help="interpolate between the styles with these weights (default: equal)")
    g.add_argument("--mask", help="a picture assigning regions to the styles: grey level "
                   "round(v * (styles - 1)) picks the style (two styles: black the first, "
                   "white the second)")
    g.add_argument("--weights", help="VGG-19 weights (default: $STYLELAB_WEIGHTS, a file or a "
                   "folder holding vgg19.h5; else the cache; else download them once)")
    g.add_argument("--size", type=positive_int,
                   help="longest side of the output in pixels (default: 512, or the photo's own "
                   "if smaller: a photo is enlarged only when --size asks)")
    g.add_argument("--style-size", type=positive_int,
                   help="longest side of the style images (default: the output's)")
    g.add_argument("--eps", type=non_negative_float, default=EPS,
                   help="the eigenvalue threshold (relative to the largest, or absolute for the "
                   "released codes' conventions)")
    g.add_argument("--convention", choices=list(CONVENTIONS),
                   help="whose transform: stylelab's, Li et al.'s official code or PytorchWCT's "
                   "(default: official with Li et al.'s released decoders, else stylelab)")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")
    g = p.add_argument_group("the inversion (--invert)")
    g.add_argument("--iterations", type=positive_int, default=50,
                   help="L-BFGS iterations per level")
    g.add_argument("--tv-weight", type=non_negative_float, default=0.0,
                   help="total variation weight")
    g = p.add_argument_group("progress")
    g.add_argument("--quiet", action="store_true", help="no status line, no progress bar")


def _check_args(args):
    image_format(args.out)          # a known picture type
    check_outputs([args.out], [args.content, *args.style, args.mask, args.decoders,
                               args.weights or find_weights("vgg19")])
    check_style_arguments(args)
    if args.decoders and not os.path.isdir(args.decoders) and args.decoders not in RELEASES:
        raise ValueError(f"--decoders {args.decoders}: no such folder")


def check_style_arguments(args):
    """Refuse --alpha above 1, and --style-weights or --mask that do not fit the style images."""
    if not args.alpha <= 1:
        raise ValueError(f"--alpha must be between 0 and 1, got {args.alpha:g}")
    check_style_options(len(args.style), args.style_weights, args.mask is not None)
    if args.style_weights:
        blend_weights(args.style_weights, len(args.style), what="--style-weights")


def load_mask(path, shape):
    """The mask's grey levels (H, W) on the host, at the content's size."""
    # nearest: the grey levels name styles, keep them exact (resize_image skips a same size)
    img = resize_image(load_image(path, dtype=np.float64), *shape, resample=Image.NEAREST)
    return to_numpy(img).mean(axis=2)


def _network(args):
    """The encoder, its path, the decoders (or None) and the convention, from the arguments."""
    dtype = np.dtype(args.dtype)
    if args.decoders:
        args.decoders = release_folder(args.decoders)   # a folder, or a downloaded release by name
    if args.decoders and is_wct_release(args.decoders):
        encoder, decoders = wct_release(args.decoders, args.levels, dtype)
        weights_path = args.weights or encoder
        net = load_vgg(weights_path, dtype=dtype)
        check_normalised(net, weights_path)
        return net, weights_path, decoders, args.convention or "official"
    net, weights_path = load_paper_vgg(args.weights, "vgg19", dtype, "encoder",
                                       level_layer(args.levels[0]), args.quiet)
    decoders = (load_decoders(args.decoders, net, args.levels, encoder_name=weights_path)
                if args.decoders else None)
    return net, weights_path, decoders, args.convention or "stylelab"


def run(args):
    _check_args(args)
    net, weights_path, decoders, convention = _network(args)
    content = load_image(args.content, size=args.size or DEFAULT_SIZE, dtype=net.dtype,
                         enlarge=args.size is not None)
    styles = [load_image(s, size=args.style_size or max(content.shape[:2]), dtype=net.dtype)
              for s in args.style]
    mask = load_mask(args.mask, content.shape[:2]) if args.mask else None
    status(args.quiet, f"wct: VGG-19 from {weights_path}; encoding the content and "
           f"{len(styles)} style(s) at {content.shape[1]}x{content.shape[0]}, then levels "
           f"{','.join(map(str, args.levels))}"
           + (f" by the decoders in {args.decoders}" if decoders else
              f" by {args.iterations} L-BFGS iterations each"))

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
                                    tv_weight=args.tv_weight, eps=args.eps,
                                    convention=convention, callback=progress)
    finally:
        bar.close()
    save_image(args.out, result.image)
    road = ("decoders" if decoders else f"inversion, {result.iterations} L-BFGS iterations "
            f"over {len(result.levels)} level(s) ({args.iterations} a level asked), "
            f"{result.evaluations} evaluations")
    summary = (f"{args.out}: WCT at {', '.join(level_layer(v) for v in result.levels)} "
               f"({road}; {convention}'s transform) at {content.shape[1]}x{content.shape[0]} in "
               f"{duration(time.perf_counter() - start)}")
    report(summary, result.stopped, "the image so far")
    note_random_weights(weights_source(weights_path) if weights_path.endswith(".h5") else None,
                        "the VGG-19")
