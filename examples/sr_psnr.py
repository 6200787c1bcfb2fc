"""PSNR of a super-resolution model against bicubic upsampling, on images it was not trained on.

    python3 examples/sr_psnr.py --model sr4.h5 --size 256 IMG [IMG ...]

Each image is resized so its longest side is ``--size``, blurred and
downsampled as in training (``stylelab.johnson.superres.degrade``), then brought back
by bicubic interpolation and by the network; PSNR (dB, over RGB in [0, 1])
is measured against the resized original.
"""

import argparse
import os
import sys

import numpy as np

from stylelab.files.images import load_image
from stylelab.files.model_file import load_task_model
from stylelab.johnson.superres import evaluate


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("images", nargs="+")
    args = p.parse_args(argv)
    net, meta = load_task_model(args.model, "super-resolution")
    factor = int(net.factor)
    print(f"# {args.model}: x{factor}, {meta.get('steps')} steps, loss network "
          f"{meta.get('loss_network')}")
    print("| image | bicubic PSNR dB | network PSNR dB |")
    print("| --- | ---: | ---: |")
    rows = []
    for path in args.images:
        hr = load_image(path, size=args.size, dtype=net.dtype)
        rows.append(evaluate(net, hr, factor))
        print(f"| {os.path.basename(path)} | {rows[-1][0]:.2f} | {rows[-1][1]:.2f} |")
    mean = np.mean(rows, axis=0)
    print(f"| mean | {mean[0]:.2f} | {mean[1]:.2f} |")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError, EOFError, MemoryError) as exc:   # bad input (stylelab's errors
        text = " ".join(str(exc).split()) or type(exc).__name__  # name it): one line, exit 2
        print(f"sr_psnr.py: error: {text}", file=sys.stderr)
        sys.exit(2)
