"""Gatys et al. 2015 with stylelab's API, step by step.

Takes the core arguments of ``stylelab gatys``, e.g.::

    python3 examples/gatys.py --content ../shared/images/tubingen.jpg \
        --style ../shared/images/starry_night.jpg --out tubingen_starry.png --size 256

The command does the same with every option, a progress bar, snapshots and
loss plots; this script shows the steps underneath it.
"""

import argparse
import os
import sys

import numpy as np

from stylelab.files.images import load_image, save_image
from stylelab.files.vgg_h5 import weights_source
from stylelab.files.weights import find_weights, load_vgg
from stylelab.gatys import GatysObjective, stylize


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--content", required=True, help="the photograph")
    p.add_argument("--style", required=True, nargs="+", help="one or more paintings")
    p.add_argument("--out", required=True, help="the output picture (.png or .jpg)")
    p.add_argument("--weights", help="VGG-19 weights in stylelab's HDF5 layout (default: "
                   "$STYLELAB_WEIGHTS, else the download cache)")
    p.add_argument("--size", type=int, default=512, help="longest side of the output (default: 512)")
    p.add_argument("--iterations", type=int, help="L-BFGS iterations (default: the recipe's)")
    p.add_argument("--recipe", choices=["neural-style", "tutorial", "paper"],
                   help="whose objective (default: the one made for the weights)")
    p.add_argument("--content-weight", type=float, help="(default: the recipe's)")
    p.add_argument("--style-weight", type=float, help="(default: the recipe's)")
    p.add_argument("--style-blend", type=float, nargs="+", help="one weight per style image")
    p.add_argument("--seed", type=int, default=0, help="seed of the starting noise (default: 0)")
    p.add_argument("--engine", choices=["readable", "fast"], default="readable",
                   help="VGG written out on stylelab.layers (default), or its fast engine: the "
                        "same numbers, 1.3x-1.6x faster")
    p.add_argument("--quiet", action="store_true", help="accepted for the command's sake")
    return p, p.parse_args(argv)


def main(argv=None):
    parser, args = parse(argv)
    dtype = np.float32

    # 1. The network: VGG-19's conv layers, frozen, from a converted weight file. The
    #    readable engine is the table of stylelab/nets/vgg.py, each layer a pair of
    #    stylelab.layers functions (im2col convs); --engine fast computes the same
    #    numbers with the kernels of stylelab.layers.fast, as `stylelab gatys` does.
    weights = args.weights or find_weights("vgg19")
    if weights is None:
        parser.exit(2, "gatys.py: error: no VGG weights here: run `stylelab weights download "
                       "vgg19` or pass --weights FILE\n")
    net = load_vgg(weights, dtype=dtype, engine=args.engine)
    # A weight file records where it came from; random weights make no painting.
    source = weights_source(weights) if str(weights).endswith(".h5") else os.path.basename(weights)
    print(f"{net.arch} from {weights} ({net.engine} engine, {source}): layers {net.names[0]} ... "
          f"{net.names[-1]}")

    # 2. The images, RGB in [0, 1], shape (H, W, 3): the photo at the output
    #    size, the paintings at the same longest side.
    content = load_image(args.content, size=args.size, dtype=dtype)
    styles = [load_image(s, size=args.size, dtype=dtype) for s in args.style]

    # 3. The objective: targets P (content layers) and A (Gram matrices) computed
    #    once; then loss, grad = objective(x) for any image x of the content's
    #    shape. The recipe (layers, weights, normalisation) defaults to the one
    #    made for these weights: neural-style's for Caffe's VGG, the tutorial's
    #    for torchvision's.
    weighting = dict(recipe=args.recipe, content_weight=args.content_weight,
                     style_weight=args.style_weight, style_blend=args.style_blend)
    objective = GatysObjective(net, content, styles, **weighting)
    print(f"recipe {objective.recipe.name} ({objective.recipe.reference}): content "
          f"{list(objective.content_layers)}, style {list(objective.style_layers)}")
    noise = np.random.default_rng(args.seed).random(content.shape).astype(dtype)
    loss, grad = objective(noise)
    print(f"at white noise: loss {loss:.4g} = " + " + ".join(
        f"{k} {v:.3g}" for k, v in objective.terms.items() if k != "total"),
        f"; gradient {grad.shape}")

    # 4. The optimisation: stylize() builds that objective and hands it to
    #    L-BFGS over the pixels, bounded to [0, 1], from the recipe's start.
    result = stylize(net, content, styles, iterations=args.iterations, seed=args.seed,
                     **weighting)
    print(f"{result.iterations} L-BFGS iterations, {result.evaluations} loss evaluations; "
          f"loss {result.history[0]['total']:.4g} -> {result.history[-1]['total']:.4g}")

    # 5. Save (atomically: a temporary file, renamed when complete).
    save_image(args.out, result.image)
    print(f"wrote {args.out}" + (" -- made with random weights: the machinery, not a painting"
                                 if "random weights" in source else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError, EOFError, MemoryError) as exc:   # bad input (stylelab's errors
        text = " ".join(str(exc).split()) or type(exc).__name__  # name it): one line, exit 2
        print(f"gatys.py: error: {text}", file=sys.stderr)
        sys.exit(2)
