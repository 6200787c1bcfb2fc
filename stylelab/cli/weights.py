"""``stylelab weights convert | download | random`` (and ``weights/convert_vgg.py``)."""

import argparse

from ..files.convert import convert_vgg
from ..files.download import URLS, download_vgg
from ..files.vgg_h5 import FAMILIES, save_random_vgg_h5
from ..files.weights import load_vgg
from .common import INPUT_ERRORS, HelpFormatter, error_line


def add_convert_arguments(parser):
    parser.add_argument("src", help="a .pth (torchvision's or neural-style-pt's), .caffemodel, "
                        ".onnx, Torch7 .t7 (normalised VGG-19), Keras .h5 or MatConvNet .mat")
    parser.add_argument("dst", help="output .h5 in stylelab's layout")
    parser.add_argument("--half", action="store_true", help="store float16")
    parser.add_argument("--upto", metavar="LAYER",
                        help="drop the layers after this one, e.g. relu5_1")
    parser.add_argument("--convention", choices=FAMILIES,
                        help="whose VGG the file holds, where the file cannot say: a .pth of "
                        "Caffe's weights (neural-style-pt) or torchvision's, an .onnx, or a "
                        ".caffemodel of the normalised VGG (default: told from the file; a .pth "
                        "or .onnx whose digest is not a known one is refused without it)")


def run_convert(args):
    convert_vgg(args.src, args.dst, half=args.half, upto=args.upto, convention=args.convention)
    # What was found, as the written file says it (the same reader every command uses).
    vgg = load_vgg(args.dst, engine="readable")
    c = vgg.convention
    mean = ", ".join(f"{m:g}" for m in c["mean"])
    print(f"{args.dst}: {vgg.arch}, {len(vgg.params)} conv layers ({vgg.names[0]} to "
          f"{vgg.names[-1]}), {vgg.family} convention ({c['channel_order']}, x{c['input_scale']:g}, "
          f"mean {mean}), from {args.src}")


def run_random(args):
    save_random_vgg_h5(args.out, args.arch, seed=args.seed, family="caffe")
    print(f"{args.out}: {args.arch} of random weights (seed {args.seed}), in Caffe's convention: "
          f"every command takes it, and every picture made with it says 'random weights' -- "
          f"they show the machinery, not a painting")


def run_download(args):
    path = download_vgg(args.arch, url=args.url)
    print(f"{path}: {args.arch} weights, converted and ready")


def add_arguments(p):
    """``weights convert``, ``weights download`` and ``weights random``, as subcommands of `p`."""
    sub = p.add_subparsers(dest="weights_command", required=True)
    c = sub.add_parser("convert", formatter_class=HelpFormatter, help="convert a VGG file "
                       "(.pth, .caffemodel, .onnx, .t7, Keras .h5, MatConvNet .mat) to stylelab's "
                       "HDF5 layout")
    add_convert_arguments(c)
    c.set_defaults(run=run_convert)
    r = sub.add_parser("random", formatter_class=HelpFormatter, help="write a VGG of random "
                       "weights: to try every command offline (its pictures are no paintings)")
    r.add_argument("arch", choices=["vgg16", "vgg19"])
    r.add_argument("out", help="the .h5 to write")
    r.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    r.set_defaults(run=run_random)
    d = sub.add_parser("download", formatter_class=HelpFormatter, help="download VGG weights "
                       "(Caffe's as neural-style-pt published them, or torchvision's) and convert "
                       "them into the cache")
    d.add_argument("arch", choices=list(URLS), help="vgg19: Caffe's VGG-19 (neural-style's "
                   "weights, what the commands fetch on first use); vgg19-torchvision: "
                   "torchvision's; vgg16: torchvision's VGG-16 (the training loss network); "
                   "vgg16-caffe: Caffe's")
    d.add_argument("--url", help="fetch from this address instead of the official one")
    d.set_defaults(run=run_download)


def convert_main(argv=None):
    """``python weights/convert_vgg.py SRC DST [--half] [--upto LAYER]``."""
    parser = argparse.ArgumentParser(prog="convert_vgg.py",
                                     description="Convert VGG weights to stylelab's HDF5 layout.")
    add_convert_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_convert(args)
    except INPUT_ERRORS as exc:
        parser.exit(2, f"convert_vgg.py: error: {error_line(exc)}\n")
    return 0
