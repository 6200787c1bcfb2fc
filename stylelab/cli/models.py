"""``stylelab models list | download NAME | convert SRC DST.h5 | export MODEL OUT.onnx``."""

import os

from ..files.foreign import FORMATS, read_network, sniff
from ..files.onnx_export import OPSET, export_onnx
from ..files.atomic import check_outputs
from ..files.model_file import load_model, save_model
from ..files.published import (PUBLISHED, cached_network, download_network, lookup,
                               resolve_network)
from ..files.convert import sha256_of
from ..files.released import RELEASES, check_normalised, download_release, read_decoder, release_dir
from ..files.weights import load_vgg
from ..nets.decoder import encoder_fingerprint, level_layer
from .common import HelpFormatter


def add_arguments(p):
    """``models list``, ``models download`` and ``models convert``, as subcommands of `p`."""
    sub = p.add_subparsers(dest="models_command", required=True)
    ls = sub.add_parser("list", formatter_class=HelpFormatter, help="the published networks stylelab knows: name, source, "
                        "format, licence, size, and whether it is downloaded")
    ls.set_defaults(run=run_list)
    d = sub.add_parser("download", formatter_class=HelpFormatter, help="fetch a published network, check it and convert it "
                       "into the cache")
    d.add_argument("name", help="a name from `stylelab models list`")
    d.add_argument("--url", help="fetch from this address instead of where it is published (for "
                   "a release: a folder address holding its files)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(run=run_download)
    c = sub.add_parser("convert", formatter_class=HelpFormatter, help="convert a network from TensorFlow (deeplearn.js "
                       "folder), PyTorch (.pth), ONNX (.onnx) or Torch7 (.t7) into stylelab's .h5")
    c.add_argument("src", help="a deeplearn.js folder, a pytorch/examples .pth or .model, its "
                   ".onnx export (the ONNX model zoo's fast_neural_style), or a "
                   "jcjohnson/fast-neural-style .t7")
    c.add_argument("dst", help="the stylelab model to write (.h5)")
    c.add_argument("--format", choices=[f for f in FORMATS if f != "stylelab"],
                   help="the source's format (default: told from its bytes)")
    c.add_argument("--encoder", help="for a released universal-style-transfer decoder (Li et "
                   "al.'s feature_invertor_conv{L}_1.t7, AdaIN's decoder.t7 or .pth): the encoder "
                   "it inverts; the model records its fingerprint, and `stylelab wct --decoders` "
                   "(relu{L}_1.h5) or `stylelab adain --decoder` (--for adain) refuse others")
    c.add_argument("--for", dest="use", choices=["wct", "adain"], default="wct",
                   help="with --encoder: the command the decoder is for")
    c.set_defaults(run=run_convert)
    e = sub.add_parser("export", formatter_class=HelpFormatter, help="write a style or "
                       "super-resolution network as an ONNX file (the ONNX model zoo's "
                       "convention: (N, 3, H, W) RGB 0..255 in and out, any size), for "
                       "onnxruntime, in a browser (onnxruntime-web) or on a phone")
    e.add_argument("model", help="anything `stylize --model` or `upscale --model` takes: a "
                   "stylelab .h5, a published name, a deeplearn.js folder, .pth, .t7 or .onnx")
    e.add_argument("out", help="the .onnx file to write")
    e.set_defaults(run=run_export)


def run_export(args):
    if os.path.splitext(args.out)[1].lower() != ".onnx":
        raise ValueError(f"{args.out}: an ONNX file; name it .onnx")
    src = resolve_network(args.model)
    check_outputs([args.out], inputs=[src])
    if sniff(src) == "stylelab":
        net, meta = load_model(src)
        if meta.get("task") not in ("style", "super-resolution"):
            raise ValueError(f"{src} is a {meta.get('task')} network: it takes VGG features, "
                             f"not a picture; only style and super-resolution networks are "
                             f"exported")
    else:
        net, meta = read_network(src)
        meta.pop("found", None)
    size = export_onnx(net, args.out, meta)
    factor = f", {int(net.factor)}x larger" if net.factor != 1 else ""
    print(f"{args.out}: {meta.get('task', 'style')} network {net.arch} as ONNX (opset "
          f"{OPSET}, {size / 1e6:.1f} MB): input (N, 3, H, W) RGB 0..255, output RGB 0..255"
          f"{factor}; clip to 0..255 for an image")


def run_list(args):
    print("| name | source | format | licence | size | downloaded |")
    print("| --- | --- | --- | --- | ---: | --- |")
    for item in PUBLISHED.values():
        size = f"{item.size / 1e6:.1f} MB" if item.size else "~7 MB (1.7M float32 weights)"
        print(f"| {item.name} | {item.source} | {item.fmt} | {item.licence} | {size} | "
              f"{'yes' if cached_network(item.name) else 'no'} |")
    print("\nUniversal style transfer, used as released (`stylelab models download NAME`, then "
          "the command shown):\n")
    print("| name | source | files | licence | use | downloaded |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in RELEASES.values():
        folder = release_dir(r.name)
        print(f"| {r.name} | {r.source} | {', '.join(f for f, _ in r.files)} | {r.licence} | "
              f"`{r.command} {folder}` | {'yes' if os.path.isdir(folder) else 'no'} |")


def run_download(args):
    if args.name in RELEASES:
        folder, digests = download_release(args.name, progress=not args.quiet, base_url=args.url)
        print(f"{folder}: {args.name} as released, every network read and checked; sha256 "
              + ", ".join(f"{f} {d}" for f, d in digests.items())
              + f" (no digest was published); use it with `{RELEASES[args.name].command} {folder}`")
        return
    item = lookup(args.name)
    path, digest = download_network(args.name, progress=not args.quiet, url=args.url)
    check = "matches the recorded digest" if item.sha256 else "(no digest was published)"
    print(f"{path}: {args.name} from {args.url or item.url}, sha256 {digest} {check}; "
          f"licence: {item.licence}")


def run_convert(args):
    if os.path.splitext(args.dst)[1].lower() not in (".h5", ".hdf5"):
        raise ValueError(f"{args.dst}: a stylelab model is an HDF5 file; name it .h5")
    check_outputs([args.dst], inputs=[args.src, args.encoder])
    if args.encoder:
        _convert_released_decoder(args)
        return
    net, meta = read_network(args.src, args.format)
    found = meta.pop("found", None)
    save_model(args.dst, net, meta)
    print(f"{args.dst}: {found or net.arch} from {args.src} ({meta['source_format']}, "
          f"{meta['source']})")


def _convert_released_decoder(args):
    """A released decoder as a stylelab model, recording the encoder it inverts."""
    encoder = load_vgg(args.encoder)
    check_normalised(encoder, args.encoder)
    level, net = read_decoder(args.src)
    if args.use == "adain" and level != 4:
        raise ValueError(f"{args.src} decodes relu{level}_1; AdaIN's decoder inverts relu4_1")
    layer = level_layer(level)
    if layer not in encoder.names:
        raise ValueError(f"{args.encoder} stops at {encoder.names[-1]}: it cannot encode {layer}, "
                         f"which {args.src} decodes")
    meta = {"task": "decoder" if args.use == "wct" else "adain", "level": level,
            "content_layers": [layer], "encoder": encoder_fingerprint(encoder, layer),
            "source": f"{os.path.basename(args.src)} sha256:{sha256_of(args.src)}",
            "loss_network": f"released with {os.path.basename(args.encoder)}"}
    save_model(args.dst, net, meta)
    print(f"{args.dst}: the relu{level}_1 decoder from {args.src}, for "
          f"`stylelab {'wct --decoders' if args.use == 'wct' else 'adain --decoder'}` with "
          f"{args.encoder}")
