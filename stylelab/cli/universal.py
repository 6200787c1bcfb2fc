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
from ..batch import assign_styles, check_batch_outputs, photo_jobs, run_batch
from ..batch.manifest import files_sha256
from ..johnson.data import list_images
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
from .argtypes import alpha_arg, level_list, non_negative_float, positive_int
from .common import (DEFAULT_SIZE, add_batch_arguments, add_what_to_paint, check_single,
                     duration, finish_batch, note_random_weights, report, status)


def add_arguments(p):
    """The arguments of ``stylelab wct``, grouped as the README shows them."""
    add_what_to_paint(p, folders=True)
    g = p.add_argument_group("back to pixels (one of)")
    road = g.add_mutually_exclusive_group(required=True)
    road.add_argument("--decoders", metavar="DIR", help="a folder of trained decoders "
                      "relu5_1.h5 ... relu1_1.h5 (from `stylelab train-decoder --levels`), or "
                      "Li et al.'s release as published: vgg_normalised_conv{L}_1.t7 and "
                      "feature_invertor_conv{L}_1.t7 (its encoder is then the default weights)")
    road.add_argument("--invert", action="store_true", help="no decoders: invert the "
                      "features by L-BFGS on the image (slower)")
    g = p.add_argument_group("the transfer")
    g.add_argument("--alpha", type=alpha_arg, default=0.6,
                   help="how much of the transformed features to keep, 0..1 (or LOW:HIGH, "
                   "drawn per photo with --seed)")
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
    g.add_argument("--tile", type=positive_int, metavar="T", help="run the encoder and the "
                   "decoders layer by layer over T x T tiles (or the inversion's loss over tiles "
                   "with halos): the same picture in memory that follows T (docs/tiling.md)")
    g = p.add_argument_group("the inversion (--invert)")
    g.add_argument("--iterations", type=positive_int, default=50,
                   help="L-BFGS iterations per level")
    g.add_argument("--tv-weight", type=non_negative_float, default=0.0,
                   help="total variation weight")
    add_seed_arguments(g)
    g = p.add_argument_group("progress")
    g.add_argument("--quiet", action="store_true", help="no status line, no progress bar")
    add_batch_arguments(p)


def check_style_arguments(args):
    """Refuse --alpha above 1, and --style-weights or --mask that do not fit the style images."""
    if not isinstance(args.alpha, tuple) and not args.alpha <= 1:
        raise ValueError(f"--alpha must be between 0 and 1, got {args.alpha:g}")
    check_style_options(len(args.style), args.style_weights, args.mask is not None)
    if args.style_weights:
        blend_weights(args.style_weights, len(args.style), what="--style-weights")


def add_seed_arguments(p):
    """``--seed``: one painting per photo from a --style folder, or alpha from a range."""
    p.add_argument("--seed", type=int, help="with a --style folder: draw each photo's painting "
                   "from it (and its alpha, for an --alpha LOW:HIGH range) from this seed and "
                   "the photo's path alone -- the same pairs however the run is split")


def style_paintings(args):
    """The paintings every photo is drawn from (a --style folder, with --seed), or None.

    None: every photo gets the --style files (blended by --style-weights or
    --mask). A folder and an alpha range are drawn per photo, and need a seed.
    """
    folder = len(args.style) == 1 and os.path.isdir(args.style[0])
    drawn = folder or isinstance(args.alpha, tuple)
    if drawn and args.seed is None:
        raise ValueError(f"{'a --style folder' if folder else 'an --alpha range'} is drawn "
                         f"from per photo: give --seed S (the same S, the same pairs)")
    if args.seed is not None and not drawn:
        raise ValueError("--seed draws each photo's painting from a --style folder (or its "
                         "alpha from an --alpha LOW:HIGH range); there is nothing to draw")
    if not folder:
        return None
    if args.style_weights or args.mask:
        raise ValueError("--style-weights and --mask blend several --style files; a --style "
                         "folder gives each photo one painting")
    return list_images(args.style[0], "--style")


def picture_jobs(args):
    """The run's jobs: the --content photo, or a folder's; paintings and alphas drawn if asked.

    Returns the jobs and whether this is a folder run (--out is a folder).
    """
    paintings = style_paintings(args)
    if os.path.isdir(args.content):
        jobs = photo_jobs([args.content], args.out)
        batch = True
    else:
        check_single(args, args.content)
        image_format(args.out)
        jobs = [{"photo": args.content, "rel": os.path.basename(args.content),
                 "out": args.out}]
        batch = False
    if paintings is None:
        for job in jobs:
            job["style"] = list(args.style)
    if args.seed is not None:
        assign_styles(jobs, paintings, args.seed,
                      args.alpha if isinstance(args.alpha, tuple) else None)
    return jobs, batch


def load_mask(path, shape):
    """The mask's grey levels (H, W) on the host, at the content's size."""
    # nearest: the grey levels name styles, keep them exact (resize_image skips a same size)
    img = resize_image(load_image(path, dtype=np.float64), *shape, resample=Image.NEAREST)
    return to_numpy(img).mean(axis=2)


class WctPainter:
    """Paints a photo by the WCT cascade with the command line's settings (one photo, or a folder's).

    It pickles as those settings (with the weights file it resolved, so a
    worker reads the same one); the networks are loaded where it paints,
    once (:mod:`stylelab.batch`).
    """

    def __init__(self, args):
        for name in ("weights", "decoders", "levels", "dtype", "size", "style_size", "alpha",
                     "style_weights", "mask", "eps", "convention", "iterations", "tv_weight",
                     "seed", "style", "quiet", "tile"):
            setattr(self, name, getattr(args, name))
        self.net = self.decoders_loaded = None

    def __getstate__(self):
        return {**self.__dict__, "net": None, "decoders_loaded": None}

    def settings(self):
        return {"method": "wct", "size": self.size, "dtype": self.dtype, "style": self.style,
                "models": {"vgg19": files_sha256(self.weights),
                           "decoders": files_sha256(self.decoders) if self.decoders else None},
                "style_weights": self.style_weights, "alpha": self.alpha, "seed": self.seed,
                "options": {"levels": list(self.levels), "eps": self.eps, "mask": self.mask,
                            "convention": self.convention, "style_size": self.style_size,
                            "iterations": None if self.decoders else self.iterations,
                            "tv_weight": self.tv_weight}}

    def load(self):
        """The encoder, the decoders (or None: inversion) and the convention, once."""
        if self.net is not None:
            return self
        dtype = np.dtype(self.dtype)
        if self.decoders:
            self.decoders = release_folder(self.decoders)  # a folder, or a release by name
        if self.decoders and is_wct_release(self.decoders):
            encoder, self.decoders_loaded = wct_release(self.decoders, self.levels, dtype)
            self.weights = self.weights or encoder
            self.net = load_vgg(self.weights, dtype=dtype)
            check_normalised(self.net, self.weights)
            self.convention = self.convention or "official"
            return self
        self.net, self.weights = load_paper_vgg(self.weights, "vgg19", dtype, "encoder",
                                                level_layer(self.levels[0]), self.quiet)
        if self.decoders:
            self.decoders_loaded = load_decoders(self.decoders, self.net, self.levels,
                                                 encoder_name=self.weights)
        self.convention = self.convention or "stylelab"
        return self

    def transfer(self, job, callback=None):
        """The cascade's result for one job (its photo, paintings and alpha)."""
        dtype = self.net.dtype
        content = load_image(job["photo"], size=self.size or DEFAULT_SIZE, dtype=dtype,
                             enlarge=self.size is not None)
        styles = [load_image(s, size=self.style_size or max(content.shape[:2]), dtype=dtype)
                  for s in job["style"]]
        mask = load_mask(self.mask, content.shape[:2]) if self.mask else None
        return content, universal_transfer(
            self.net, content, styles, decoders=self.decoders_loaded, levels=self.levels,
            alpha=job.get("alpha", self.alpha), style_weights=self.style_weights, mask=mask,
            iterations=self.iterations, tv_weight=self.tv_weight, eps=self.eps,
            convention=self.convention, callback=callback, tile=self.tile)

    def paint(self, job):
        return self.transfer(job)[1].image


def run(args):
    check_style_arguments(args)
    if args.decoders and not os.path.isdir(args.decoders) and args.decoders not in RELEASES:
        raise ValueError(f"--decoders {args.decoders}: no such folder")
    jobs, batch = picture_jobs(args)
    reads = [args.content, *args.style, args.mask, args.decoders,
             args.weights or find_weights("vgg19")]
    if batch:
        check_batch_outputs(args.out, jobs, reads)
    else:
        check_outputs([args.out], reads)
    painter = WctPainter(args).load()
    decoders, convention = painter.decoders_loaded, painter.convention
    road = (f"by the decoders in {painter.decoders}" if decoders else
            f"by {args.iterations} L-BFGS iterations each")
    if batch:
        status(args.quiet, f"wct: VGG-19 from {painter.weights}; {len(jobs)} photo(s) in "
               f"{args.content}, levels {','.join(map(str, args.levels))} {road}")
        result = run_batch(painter, jobs, args.out, args.workers, args.scheduler, args.quiet)
        finish_batch(result, args.out, "WCT")
        _note(painter.weights)
        return
    job, = jobs
    status(args.quiet, f"wct: VGG-19 from {painter.weights}; encoding the content and "
           f"{len(job['style'])} style(s), then levels {','.join(map(str, args.levels))} {road}")

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
        content, result = painter.transfer(job, callback=progress)
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
    _note(painter.weights)


def _note(weights_path):
    note_random_weights(weights_source(weights_path) if weights_path.endswith(".h5") else None,
                        "the VGG-19")
