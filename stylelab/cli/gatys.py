"""``stylelab gatys``: the command line of :mod:`stylelab.gatys`.

Weights come from ``--weights``, ``$STYLELAB_WEIGHTS`` or the download cache,
and are downloaded on first use when none are there (Caffe's VGG-19, as
neural-style runs it). The recipe -- layers, weights, normalisation, start
-- is the one made for the weights unless ``--recipe`` says otherwise, and
every loss option overrides one of its values. A progress bar shows
the iteration, the loss terms and the time left; Ctrl-C writes the best image
so far. Every file is written atomically.
"""

import argparse
import os
import time

import numpy as np

from ..files import atomic
from ..files.history import check_history_path, plot_history, write_history
from ..files.images import image_format, load_image, save_image
from ..files.weights import find_weights, load_vgg, resolve_weights
from ..gatys import INITS, RECIPES, stylize
from ..gatys.color import COLOR_MODES
from ..gatys.losses import STYLE_STATISTICS
from ..gatys.recipes import WHY, get_recipe
from .argtypes import non_negative_float, positive_int
from ..files.vgg_h5 import weights_source
from .common import (DEFAULT_SIZE, add_what_to_paint, duration, is_snapshot_of,
                     note_random_weights, report, snapshot_path, status)


def layer_spec(text):
    """``"relu4_2"`` or ``"relu1_1:0.5,relu2_1:0.5"`` -> names, or {name: weight}."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected layer names such as relu4_2")
    if not any(":" in p for p in parts):
        return parts
    try:
        pairs = [p.split(":") for p in parts]
        return {name: non_negative_float(weight) for name, weight in pairs}
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected name:weight pairs such as relu1_1:0.2,relu2_1:0.8 (every layer "
            f"with a weight, or none), got {text!r}") from None


def add_arguments(p):
    """The arguments of ``stylelab gatys`` (and ``examples/gatys.py``), grouped as the README shows them."""
    add_what_to_paint(p, styles="one or more paintings")
    g = p.add_argument_group("the network")
    g.add_argument("--weights", help="VGG weights in stylelab's HDF5 layout (default: "
                   "$STYLELAB_WEIGHTS, a file or a folder holding vgg19.h5; else the download "
                   "cache; else download them once)")
    g.add_argument("--arch", choices=["vgg19", "vgg16"], default="vgg19",
                   help="the network the weights must be (VGG-19 in the paper)")
    g.add_argument("--pooling", choices=["max", "avg"], default="max",
                   help="max-pooling as VGG was trained, or average (the paper's preference)")
    g = p.add_argument_group("the loss")
    g.add_argument("--recipe", choices=list(RECIPES),
                   help="whose objective: neural-style (neural-style-pt's layers, weights and "
                   "normalisation, made for Caffe's VGG), tutorial (PyTorch's tutorial, made for "
                   "torchvision's VGG) or paper (Gatys et al.). Default: the one made for the "
                   "weights -- neural-style for Caffe's VGG (the download), tutorial for "
                   "torchvision's, paper for the normalised VGG -- as a weight ratio tuned for "
                   "one VGG does not paint with another. The options below override its values")
    g.add_argument("--content-weight", type=non_negative_float,
                   help="alpha, the content loss's weight (default: the recipe's: 5, 1, 1)")
    g.add_argument("--style-weight", type=non_negative_float,
                   help="beta, the style loss's weight (default: the recipe's: 100, 1e6, 1e3); "
                   "raise it if the result looks too much like the photograph")
    g.add_argument("--tv-weight", type=non_negative_float,
                   help="total variation: smooths the picture (default: the recipe's: 1e-3, "
                   "0, 0)")
    g.add_argument("--normalise-gradients", "--normalize-gradients", action="store_true",
                   help="neural-style's -normalize_gradients: scale each term's gradient by its "
                   "weight squared")
    g.add_argument("--content-layers", type=layer_spec,
                   help="comma-separated, optionally name:weight (default: the recipe's)")
    g.add_argument("--style-layers", type=layer_spec,
                   help="comma-separated, optionally name:weight; equal weights if none "
                   "(default: the recipe's)")
    g.add_argument("--style-blend", type=non_negative_float, nargs="+",
                   help="one weight per style image (default: equal)")
    g.add_argument("--style-scale", type=non_negative_float, default=1.0,
                   help="style images' longest side relative to the output's")
    g.add_argument("--statistic", choices=STYLE_STATISTICS, default="gram",
                   help="match Gram matrices or covariance matrices")
    g.add_argument("--original-colors", choices=COLOR_MODES,
                   help="keep the photograph's colours: luminance-only transfer, or the "
                   "style recoloured to the photo's colour histogram")
    g = p.add_argument_group("the optimisation")
    g.add_argument("--size", type=positive_int,
                   help="longest side of the output in pixels (default: 512, or the photo's own "
                   "if smaller: a photo is enlarged only when --size asks)")
    g.add_argument("--iterations", type=positive_int,
                   help="optimiser iterations per scale; an L-BFGS iteration may evaluate the "
                   "loss more than once (default: the recipe's: 1000, 300, 500)")
    g.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs",
                   help="L-BFGS as the paper, or Adam")
    g.add_argument("--learning-rate", type=non_negative_float, default=0.02,
                   help="Adam's step size on pixels in [0, 1]")
    g.add_argument("--init", help="noise (seeded), content, style, mean (the mean pixel plus "
                   "tiny noise), or an image file (default: the recipe's: mean, content, noise)")
    g.add_argument("--seed", type=int, default=0, help="seed of the noise")
    g.add_argument("--scales", type=positive_int, default=1,
                   help="coarse-to-fine: optimise at 1/2^(k-1) ... 1/2, 1 of the size, each "
                   "result starting the next")
    g.add_argument("--tile", type=positive_int, metavar="T", help="compute the loss and its "
                   "gradient over T x T tiles, each with a halo as wide as the deepest layer's "
                   "receptive field: the same result, in memory that follows T (docs/tiling.md)")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")
    g = p.add_argument_group("progress and extras")
    g.add_argument("--save-every", type=positive_int,
                   help="also write OUT_<iteration> every N iterations")
    g.add_argument("--history", help="write the loss per iteration to this .csv or .json")
    g.add_argument("--plot", help="draw the loss curve into this picture (.png)")
    g.add_argument("--quiet", action="store_true", help="no status line, no progress bar")


def load_network(args):
    """VGG from the weights `args` point to, checked to be ``args.arch``; and where it came from."""
    path, origin = resolve_weights(args.weights, args.arch, args.quiet)
    net = load_vgg(path, pooling=args.pooling, dtype=np.dtype(args.dtype))
    if net.arch != args.arch:
        raise ValueError(f"{path} (from {origin}) holds {net.arch} weights, but this run uses "
                         f"{args.arch} (give --arch {net.arch} to use them, or --weights a "
                         f"{args.arch} file)")
    return net, path, origin


def load_images(args, dtype):
    """The content at ``--size``, the styles at ``--style-scale`` times it, the init."""
    content = load_image(args.content, size=args.size or DEFAULT_SIZE, dtype=dtype,
                         enlarge=args.size is not None)
    side = max(1, round(args.style_scale * max(content.shape[:2])))
    styles = [load_image(s, size=side, dtype=dtype) for s in args.style]
    init = args.init
    if init is not None and init not in INITS:
        init = load_image(init, dtype=dtype)
    return content, styles, init


def stylize_options(args, init, recipe):
    """The keyword arguments of :func:`stylelab.gatys.stylize` that `args` asks for."""
    return dict(recipe=recipe, iterations=args.iterations, optimizer=args.optimizer,
                learning_rate=args.learning_rate, init=init, seed=args.seed,
                scales=args.scales, style_scale=args.style_scale,
                original_colors=args.original_colors,
                content_layers=args.content_layers, style_layers=args.style_layers,
                content_weight=args.content_weight, style_weight=args.style_weight,
                tv_weight=args.tv_weight, style_blend=args.style_blend,
                statistic=args.statistic, normalise_gradients=args.normalise_gradients,
                tile=args.tile)


def check_outputs(args):
    """Refuse bad output names, and outputs that would destroy an input, before any work."""
    image_format(args.out)
    if args.history:
        check_history_path(args.history)
    if args.plot:
        image_format(args.plot)
    given_init = args.init is not None and args.init not in INITS
    if given_init and not os.path.exists(args.init):
        raise ValueError(f"--init must be noise, content, style, mean or an image file; "
                         f"{args.init!r} is none of these")
    inputs = [args.content, *args.style, args.weights or find_weights(args.arch),
              args.init if given_init else None]
    atomic.check_outputs([args.out, args.history, args.plot], inputs)
    if args.save_every:
        # The snapshots OUT_0001, OUT_0002, ...: by their pattern, not one by one.
        taken = [i for i in inputs if i and
                 is_snapshot_of(os.path.realpath(i), os.path.realpath(args.out))]
        if taken:
            raise ValueError(f"refusing --save-every: the snapshots of {args.out} would "
                             f"write over the input {taken[0]}")


class Progress:
    """A tqdm bar over iterations, with the loss terms; saves snapshots every N."""

    def __init__(self, total, optimizer, quiet, out, save_every):
        from tqdm import tqdm
        unit = "L-BFGS it" if optimizer == "lbfgs" else "Adam step"
        self.bar = tqdm(total=total, unit=f" {unit}", disable=quiet, dynamic_ncols=True,
                        desc="gatys")
        self.out, self.save_every = out, save_every

    def __call__(self, info):
        self.bar.set_description(f"gatys {info['width']}x{info['height']}"
                                 + (f" (scale {info['scale']}/{info['scales']})"
                                    if info["scales"] > 1 else ""), refresh=False)
        self.bar.set_postfix_str(f"loss {info['total']:.4g} = content {info['content']:.3g}"
                                 f" + style {info['style']:.3g} + tv {info['tv']:.3g}; "
                                 f"{info['evaluations']} evals", refresh=False)
        self.bar.update(1)
        if self.save_every and info["iteration"] % self.save_every == 0:
            save_image(snapshot_path(self.out, info["iteration"]), info["image"])
        return False

    def close(self):
        self.bar.close()


def run(args):
    check_outputs(args)
    net, weights, origin = load_network(args)
    recipe = get_recipe(args.recipe, net)
    chosen = "asked for" if args.recipe else f"the default for {WHY[net.family]}"
    iterations = args.iterations or recipe.iterations
    content, styles, init = load_images(args, net.dtype)
    status(args.quiet, f"gatys: {net.arch} from {origin} ({weights}); recipe {recipe.name} "
           f"({chosen}); computing the content and style targets at "
           f"{content.shape[1]}x{content.shape[0]}, then {iterations} iterations"
           f"{f' at each of {args.scales} scales' if args.scales > 1 else ''}")
    progress = Progress(iterations * args.scales, args.optimizer, args.quiet,
                        args.out, args.save_every)
    start = time.perf_counter()
    try:
        result = stylize(net, content, styles, callback=progress,
                               **stylize_options(args, init, recipe))
    finally:
        progress.close()
    save_image(args.out, result.image)
    if args.history:
        write_history(args.history, result.history)
    if args.plot and result.history:
        plot_history(args.plot, result.history,
                     title=f"Gatys: {os.path.basename(args.content)} in the style of "
                     f"{', '.join(os.path.basename(s) for s in args.style)} "
                     f"({os.path.basename(weights)})")
    what = "L-BFGS iterations" if args.optimizer == "lbfgs" else "Adam steps"
    last = result.history[-1] if result.history else {"total": float("nan")}
    summary = (f"{args.out}: recipe {recipe.name} ({chosen}), {result.iterations} {what} "
               f"({result.evaluations} loss evaluations) at {content.shape[1]}x{content.shape[0]} in "
               f"{duration(time.perf_counter() - start)}; final loss {last['total']:.4g}")
    report(summary, result.interrupted, "the best image so far")
    note_random_weights(weights_source(weights) if weights.endswith(".h5") else None,
                        "the VGG")
