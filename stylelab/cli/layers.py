"""``stylelab layers``: one block of VGG (conv 3x3 -> ReLU -> 2x2 max-pool) on a photo, with hand-made filters."""

import numpy as np

from .. import backend
from ..files.atomic import check_outputs
from ..files.images import image_format, load_image, save_image
from ..layers import conv2d_forward, maxpool2x2_forward, relu_forward
from .argtypes import positive_int
from .common import DEFAULT_SIZE


def add_arguments(p):
    p.add_argument("image", help="input image (any format Pillow reads)")
    p.add_argument("--out", required=True, help="output picture (.png or .jpg)")
    p.add_argument("--size", type=positive_int,
                   help="longest side of the output in pixels (default: 512, or the photo's own "
                   "if smaller: a photo is enlarged only when --size asks)")


def _edge_filters(dtype):
    """Four hand-made 3x3 filters on RGB: light-to-dark edges in four directions.

    Sobel kernels and their negatives; each sees the three colour channels
    equally, so it responds to brightness edges. Shape (4, 3, 3, 3).
    """
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    kernels = [sobel, -sobel, sobel.T, -sobel.T]
    w = np.stack([np.repeat(k[:, :, None], 3, axis=2) / 3 for k in kernels])
    return w.astype(dtype)


def run(args):
    """Run one block (conv 3x3 -> ReLU -> 2x2 max-pool) on a photo."""
    image_format(args.out)
    check_outputs([args.out], [args.image])
    img = load_image(args.image, size=args.size or DEFAULT_SIZE,
                     enlarge=args.size is not None)
    xp = backend.get_array_module(img)
    w = xp.asarray(_edge_filters(img.dtype))
    b = xp.zeros(4, dtype=img.dtype)
    h, _ = conv2d_forward(img[None], w, b, pad_mode="reflect")
    a, _ = relu_forward(h)
    p, _ = maxpool2x2_forward(a)
    maps = p[0] / max(float(p.max()), 1e-12)           # (H/2, W/2, 4) in [0, 1]
    top = xp.concatenate([maps[..., 0], maps[..., 1]], axis=1)
    bottom = xp.concatenate([maps[..., 2], maps[..., 3]], axis=1)
    save_image(args.out, xp.concatenate([top, bottom], axis=0))
    print(f"{args.out}: 4 feature maps of {p.shape[2]}x{p.shape[1]} "
          f"(vertical edges, both polarities, top; horizontal, bottom)")
