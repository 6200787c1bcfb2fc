"""Gatys et al. 2015 with stylelab's API, step by step.

Takes the same arguments as ``stylelab gatys``, e.g.::

    python3 examples/gatys.py --content ../shared/images/tubingen.jpg \
        --style ../shared/images/starry_night.jpg --out tubingen_starry.png --size 256

The command does the same with a progress bar, snapshots and loss plots; this
script shows the steps underneath it.
"""

import argparse
import sys

import numpy as np

from stylelab import gatys, vgg
from stylelab.gatys_cli import add_arguments, stylize_options
from stylelab.images import load_image, save_image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)

    # 1. The network: VGG-19's conv layers, frozen, from a converted weight file.
    weights = args.weights or vgg.find_weights(args.arch)
    if weights is None:
        parser.exit(2, "no VGG weights here: run `stylelab weights download vgg19` "
                       "or pass --weights FILE\n")
    net = vgg.load_vgg(weights, pooling=args.pooling, dtype=dtype)
    print(f"{net.arch} from {weights}: layers {net.names[0]} ... {net.names[-1]}")

    # 2. The images, RGB in [0, 1], shape (H, W, 3): the photo at the output
    #    size, the paintings at style_scale times it.
    content = load_image(args.content, size=args.size, dtype=dtype)
    styles = [load_image(s, size=round(args.style_scale * args.size), dtype=dtype)
              for s in args.style]

    # 3. The objective: targets P (relu4_2) and A (Gram matrices) computed once;
    #    then loss, grad = objective(x) for any image x of the content's shape.
    options = stylize_options(args, init=args.init)
    objective_keys = ("content_layers", "style_layers", "content_weight", "style_weight",
                      "tv_weight", "style_blend", "statistic")
    objective = gatys.GatysObjective(net, content, styles,
                                     **{k: options[k] for k in objective_keys})
    noise = np.random.default_rng(args.seed).random(content.shape).astype(dtype)
    loss, grad = objective(noise)
    print(f"at white noise: loss {loss:.4g} = " + " + ".join(
        f"{k} {v:.3g}" for k, v in objective.terms.items() if k != "total"),
        f"; gradient {grad.shape}")

    # 4. The optimisation: stylize() builds that objective at each scale and
    #    hands it to L-BFGS (or Adam) over the pixels, bounded to [0, 1].
    if args.init not in gatys.INITS:
        options["init"] = load_image(args.init, dtype=dtype)
    result = gatys.stylize(net, content, styles, **options)
    what = "L-BFGS iterations" if args.optimizer == "lbfgs" else "Adam steps"
    print(f"{result.iterations} {what}, {result.evaluations} loss evaluations; "
          f"loss {result.history[0]['total']:.4g} -> {result.history[-1]['total']:.4g}")

    # 5. Save (atomically: a temporary file, renamed when complete).
    save_image(args.out, result.image)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as exc:      # bad input: one line, no traceback
        sys.exit(f"gatys.py: error: {exc}")
