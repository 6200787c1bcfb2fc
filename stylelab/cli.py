"""The ``stylelab`` command.

Every failure a user can cause prints one line, ``stylelab: error: ...``, and
exits with status 2; nothing is left half-written.
"""

import argparse
import sys

import numpy as np

from . import __version__, apply_cli, backend, convert, gatys_cli, johnson_cli, wct_cli
from .argtypes import positive_int


def _edge_filters(dtype):
    """Four hand-made 3x3 filters on RGB: light-to-dark edges in four directions.

    Sobel kernels and their negatives; each sees the three colour channels
    equally, so it responds to brightness edges. Shape (4, 3, 3, 3).
    """
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    kernels = [sobel, -sobel, sobel.T, -sobel.T]
    w = np.stack([np.repeat(k[:, :, None], 3, axis=2) / 3 for k in kernels])
    return w.astype(dtype)


def cmd_layers(args):
    """Run the seed's block (conv 3x3 -> ReLU -> 2x2 max-pool) on a photo."""
    from . import layers
    from .images import load_image, save_image

    img = load_image(args.image, size=args.size)
    xp = backend.get_array_module(img)
    w = xp.asarray(_edge_filters(img.dtype))
    b = xp.zeros(4, dtype=img.dtype)
    h, _ = layers.conv2d_forward(img[None], w, b, pad_mode="reflect")
    a, _ = layers.relu_forward(h)
    p, _ = layers.maxpool2x2_forward(a)
    maps = p[0] / max(float(p.max()), 1e-12)           # (H/2, W/2, 4) in [0, 1]
    top = xp.concatenate([maps[..., 0], maps[..., 1]], axis=1)
    bottom = xp.concatenate([maps[..., 2], maps[..., 3]], axis=1)
    save_image(args.out, xp.concatenate([top, bottom], axis=0))
    print(f"{args.out}: 4 feature maps of {p.shape[1]}x{p.shape[2]} "
          f"(vertical edges, both polarities, top; horizontal, bottom)")


def cmd_download(args):
    from .download import download_vgg
    path = download_vgg(args.arch, url=args.url)
    print(f"{path}: {args.arch} weights, converted and ready")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="stylelab", description="Artistic style transfer from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"stylelab {__version__}")
    parser.add_argument("--backend", choices=["numpy", "cupy"],
                        help="where arrays live (default: $STYLELAB_BACKEND or numpy)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("layers", help="run conv -> ReLU -> max-pool on an image "
                       "with hand-made edge filters and save the feature maps")
    p.add_argument("image", help="input image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="output picture (.png or .jpg)")
    p.add_argument("--size", type=positive_int, default=512, help="longest side in pixels")
    p.set_defaults(run=cmd_layers)

    g = sub.add_parser("gatys", help="Gatys et al.: paint a photo in the style of one or "
                       "more paintings by optimising its pixels (L-BFGS on VGG-19 features)")
    gatys_cli.add_arguments(g)
    g.set_defaults(run=gatys_cli.run)

    t = sub.add_parser("train", help="Johnson et al.: train a network to paint photos in "
                       "one style, with perceptual losses through VGG-16")
    johnson_cli.add_train_arguments(t)
    t.set_defaults(run=johnson_cli.run_train)

    s = sub.add_parser("stylize", help="paint images with a trained style network (one "
                       "forward pass each)")
    apply_cli.add_stylize_arguments(s)
    s.set_defaults(run=apply_cli.run_stylize)

    t = sub.add_parser("train-sr", help="train a x4 or x8 super-resolution network with "
                       "the feature loss at relu2_2")
    johnson_cli.add_train_sr_arguments(t)
    t.set_defaults(run=johnson_cli.run_train_sr)

    u = sub.add_parser("upscale", help="upscale an image with a trained super-resolution "
                       "network")
    apply_cli.add_upscale_arguments(u)
    u.set_defaults(run=apply_cli.run_upscale)

    t = sub.add_parser("train-decoder", help="Li et al.: train a decoder from VGG-19's "
                       "relu{L}_1 features back to pixels, for `stylelab wct --decoders`")
    johnson_cli.add_train_decoder_arguments(t)
    t.set_defaults(run=johnson_cli.run_train_decoder)

    u = sub.add_parser("wct", help="Li et al.: universal style transfer by whitening and "
                       "colouring VGG-19 features, decoded by trained decoders or by L-BFGS")
    wct_cli.add_arguments(u)
    u.set_defaults(run=wct_cli.run)

    w = sub.add_parser("weights", help="convert or download VGG weights")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    c = wsub.add_parser("convert", help="convert a torchvision .pth, Keras .h5 or "
                        "MatConvNet .mat VGG file to stylelab's HDF5 layout")
    convert.add_arguments(c)
    c.set_defaults(run=convert.run)
    d = wsub.add_parser("download", help="download torchvision's VGG weights and "
                        "convert them into the cache")
    d.add_argument("arch", choices=["vgg19", "vgg16"])
    d.add_argument("--url", help="fetch from this address instead of torchvision's")
    d.set_defaults(run=cmd_download)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.backend:
            backend.use(args.backend)
        else:
            backend.backend_name()  # validates $STYLELAB_BACKEND
        args.run(args)
    except (ValueError, OSError, backend.BackendError) as exc:
        parser.exit(2, f"stylelab: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "stylelab: interrupted\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
