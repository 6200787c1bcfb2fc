"""``stylelab adain``: Huang & Belongie's arbitrary style transfer from the command line.

The networks come as their authors released them: a folder holding AdaIN's
``vgg_normalised.t7`` and ``decoder.t7`` (or pytorch-AdaIN's ``.pth`` pair), or
an encoder and a decoder given one by one. Everything is checked before any
work is done; the picture is written atomically.
"""

import os
import time

import numpy as np

from ..files.atomic import check_outputs
from ..files.images import load_image, resize_image, save_image
from ..files.released import adain_release, check_normalised, read_decoder, release_folder
from ..files.weights import load_vgg
from ..files.model_file import load_task_model
from ..nets.decoder import encoder_fingerprint
from ..universal.adain import ADAIN_CONVENTIONS, LAYER, adain_transfer
from ..universal.wct import EPS
from ..batch import check_batch_outputs, run_batch
from ..batch.manifest import files_sha256
from .argtypes import alpha_arg, non_negative_float, positive_int
from .common import (DEFAULT_SIZE, add_batch_arguments, add_what_to_paint, duration,
                     finish_batch, status)
from .universal import add_seed_arguments, check_style_arguments, load_mask, picture_jobs


def add_arguments(p):
    """The arguments of ``stylelab adain``."""
    add_what_to_paint(p, folders=True)
    g = p.add_argument_group("the networks")
    g.add_argument("--models", metavar="DIR", help="a folder as released: vgg_normalised.t7 + "
                   "decoder.t7 (AdaIN), or vgg_normalised.pth + decoder.pth (pytorch-AdaIN)")
    g.add_argument("--encoder", help="the normalised VGG-19 (.t7, .pth or a converted .h5), "
                   "instead of --models")
    g.add_argument("--decoder", help="its relu4_1 decoder (.t7 or .pth as released, or a .h5 "
                   "from `stylelab train-adain`), instead of --models")
    g = p.add_argument_group("the transfer")
    g.add_argument("--alpha", type=alpha_arg, default=1.0,
                   help="how much of the style's statistics to use, 0..1 (or LOW:HIGH, drawn "
                   "per photo with --seed)")
    g.add_argument("--style-weights", type=non_negative_float, nargs="+",
                   help="interpolate between the styles with these weights (default: equal)")
    g.add_argument("--mask", help="a picture assigning regions to the styles: grey level "
                   "round(v * (styles - 1)) picks the style")
    g.add_argument("--preserve-color", action="store_true",
                   help="recolour the styles to the photo's colours first (pytorch-AdaIN's coral)")
    g.add_argument("--size", type=positive_int,
                   help="longest side of the output in pixels (default: 512, or the photo's own "
                   "if smaller: a photo is enlarged only when --size asks; rounded down to a "
                   "multiple of 8)")
    g.add_argument("--style-size", type=positive_int,
                   help="longest side of the style images (default: the output's)")
    g.add_argument("--convention", choices=ADAIN_CONVENTIONS, default="pytorch-adain",
                   help="the statistics: pytorch-AdaIN's (unbiased, eps on both) or the paper's")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for checks")
    g.add_argument("--tile", type=positive_int, metavar="T", help="run the encoder and the "
                   "decoder layer by layer over T x T tiles: the same picture in memory that "
                   "follows T (docs/tiling.md)")
    add_seed_arguments(g)
    g.add_argument("--quiet", action="store_true", help="no status line, no progress bar")
    add_batch_arguments(p)


def _networks(args):
    """The encoder and decoder paths the arguments name."""
    if args.models:
        if args.encoder or args.decoder:
            raise ValueError("give --models DIR, or --encoder and --decoder, not both")
        folder = release_folder(args.models)       # a folder, or a downloaded release by name
        if not os.path.isdir(folder):
            raise ValueError(f"--models {args.models}: no such folder")
        return adain_release(folder)
    if not (args.encoder and args.decoder):
        raise ValueError("AdaIN needs its networks: --models DIR (the released folder), or "
                         "--encoder FILE and --decoder FILE")
    return args.encoder, args.decoder


def _decoder(path, encoder, encoder_path, dtype):
    """The relu4_1 decoder: released (.t7, .pth), or trained here (.h5, checked against the encoder)."""
    if path.lower().endswith((".h5", ".hdf5")):
        decoder, meta = load_task_model(path, "adain", dtype)
        if meta.get("encoder") != encoder_fingerprint(encoder, LAYER):
            raise ValueError(f"{path} was trained on another encoder than {encoder_path}; a "
                             f"decoder only inverts its own encoder")
        return decoder
    check_normalised(encoder, encoder_path)          # what the released decoders invert
    level, decoder = read_decoder(path, dtype)
    if level != 4:
        raise ValueError(f"{path} decodes relu{level}_1; AdaIN decodes relu4_1")
    return decoder


class AdainPainter:
    """Paints a photo by AdaIN with the settings of the command line (one photo, or a folder's).

    It pickles as those settings; the networks are loaded where it paints,
    once (:mod:`stylelab.batch`).
    """

    def __init__(self, args, encoder_path, decoder_path):
        self.encoder_path, self.decoder_path = encoder_path, decoder_path
        self.dtype, self.size, self.style_size = args.dtype, args.size, args.style_size
        self.alpha, self.style_weights, self.mask = args.alpha, args.style_weights, args.mask
        self.preserve_color, self.convention = args.preserve_color, args.convention
        self.seed, self.style, self.tile = args.seed, args.style, args.tile
        self.encoder = self.decoder = None

    def __getstate__(self):
        return {**self.__dict__, "encoder": None, "decoder": None}

    def settings(self):
        return {"method": "adain", "models": {"encoder": files_sha256(self.encoder_path),
                                              "decoder": files_sha256(self.decoder_path)},
                "size": self.size, "dtype": self.dtype, "style": self.style,
                "style_weights": self.style_weights, "alpha": self.alpha, "seed": self.seed,
                "options": {"convention": self.convention, "preserve_color": self.preserve_color,
                            "style_size": self.style_size, "mask": self.mask}}

    def load(self):
        if self.encoder is None:
            dtype = np.dtype(self.dtype)
            self.encoder = load_vgg(self.encoder_path, dtype=dtype)
            self.decoder = _decoder(self.decoder_path, self.encoder, self.encoder_path, dtype)
        return self

    def transfer(self, job):
        """The AdaIN result for one job (its photo, paintings and alpha)."""
        dtype = np.dtype(self.dtype)
        content = load_image(job["photo"], size=self.size or DEFAULT_SIZE, dtype=dtype,
                             enlarge=self.size is not None)
        h, w = (max(8, s - s % 8) for s in content.shape[:2])   # the decoder gives back 8x
        content = resize_image(content, h, w)
        styles = [load_image(s, size=self.style_size or max(h, w), dtype=dtype)
                  for s in job["style"]]
        mask = load_mask(self.mask, (h, w)) if self.mask else None
        return adain_transfer(self.encoder, self.decoder, content, styles,
                              alpha=job.get("alpha", self.alpha),
                              style_weights=self.style_weights, mask=mask,
                              preserve_color=self.preserve_color, eps=EPS,
                              convention=self.convention, tile=self.tile)

    def paint(self, job):
        return self.transfer(job).image


def run(args):
    encoder_path, decoder_path = _networks(args)
    check_style_arguments(args)
    jobs, batch = picture_jobs(args)
    reads = [args.content, *args.style, args.mask, encoder_path, decoder_path]
    painter = AdainPainter(args, encoder_path, decoder_path)
    if batch:
        check_batch_outputs(args.out, jobs, reads)
        painter.load()                # the networks checked before any worker starts
        status(args.quiet, f"adain: encoder {encoder_path}, decoder {decoder_path}; "
               f"{len(jobs)} photo(s) in {args.content}")
        result = run_batch(painter, jobs, args.out, args.workers, args.scheduler, args.quiet)
        finish_batch(result, args.out, "AdaIN")
        return
    check_outputs([args.out], reads)
    painter.load()
    job, = jobs
    status(args.quiet, f"adain: encoder {encoder_path}, decoder {decoder_path}; "
           f"{len(job['style'])} style(s)")
    start = time.perf_counter()
    result = painter.transfer(job)
    save_image(args.out, result.image)
    h, w = result.image.shape[:2]
    print(f"{args.out}: AdaIN at relu4_1 (alpha {job.get('alpha', args.alpha):g}, "
          f"{args.convention}'s statistics) at {w}x{h} in "
          f"{duration(time.perf_counter() - start)}")
