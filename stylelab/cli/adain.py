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
from ..files.images import image_format, load_image, resize_image, save_image
from ..files.released import adain_release, check_normalised, read_decoder, release_folder
from ..files.weights import load_vgg
from ..files.model_file import load_task_model
from ..nets.decoder import encoder_fingerprint
from ..universal.adain import ADAIN_CONVENTIONS, LAYER, adain_transfer
from ..universal.wct import EPS
from .argtypes import non_negative_float, positive_int
from .common import DEFAULT_SIZE, add_what_to_paint, duration, status
from .universal import check_style_arguments, load_mask


def add_arguments(p):
    """The arguments of ``stylelab adain``."""
    add_what_to_paint(p)
    g = p.add_argument_group("the networks")
    g.add_argument("--models", metavar="DIR", help="a folder as released: vgg_normalised.t7 + "
                   "decoder.t7 (AdaIN), or vgg_normalised.pth + decoder.pth (pytorch-AdaIN)")
    g.add_argument("--encoder", help="the normalised VGG-19 (.t7, .pth or a converted .h5), "
                   "instead of --models")
    g.add_argument("--decoder", help="its relu4_1 decoder (.t7 or .pth as released, or a .h5 "
                   "from `stylelab train-adain`), instead of --models")
    g = p.add_argument_group("the transfer")
    g.add_argument("--alpha", type=non_negative_float, default=1.0,
                   help="how much of the style's statistics to use, 0..1")
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
    g.add_argument("--quiet", action="store_true", help="no status line")


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


def _check_args(args):
    image_format(args.out)
    encoder, decoder = _networks(args)
    check_outputs([args.out], [args.content, *args.style, args.mask, encoder, decoder])
    check_style_arguments(args)
    return encoder, decoder


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


def run(args):
    encoder_path, decoder_path = _check_args(args)
    dtype = np.dtype(args.dtype)
    encoder = load_vgg(encoder_path, dtype=dtype)
    decoder = _decoder(decoder_path, encoder, encoder_path, dtype)
    content = load_image(args.content, size=args.size or DEFAULT_SIZE, dtype=dtype,
                         enlarge=args.size is not None)
    h, w = (max(8, s - s % 8) for s in content.shape[:2])   # the decoder gives back 8x
    content = resize_image(content, h, w)
    styles = [load_image(s, size=args.style_size or max(content.shape[:2]), dtype=dtype) for s in args.style]
    mask = load_mask(args.mask, content.shape[:2]) if args.mask else None
    status(args.quiet, f"adain: encoder {encoder_path}, decoder {decoder_path}; "
           f"{len(styles)} style(s) at {w}x{h}")
    start = time.perf_counter()
    result = adain_transfer(encoder, decoder, content, styles, alpha=args.alpha,
                            style_weights=args.style_weights, mask=mask,
                            preserve_color=args.preserve_color, eps=EPS,
                            convention=args.convention)
    save_image(args.out, result.image)
    print(f"{args.out}: AdaIN at relu4_1 (alpha {args.alpha:g}, {args.convention}'s "
          f"statistics) at {w}x{h} in {duration(time.perf_counter() - start)}")
