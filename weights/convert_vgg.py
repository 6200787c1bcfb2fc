#!/usr/bin/env python3
"""Convert VGG weights (torchvision .pth, Keras .h5, MatConvNet .mat) to stylelab's HDF5.

    python weights/convert_vgg.py SRC DST [--half] [--upto relu5_1]

The same as ``stylelab weights convert``; the readers live in
``stylelab/files/convert.py``, the command in ``stylelab/cli/weights.py``.
"""

import sys

from stylelab.cli.weights import convert_main

if __name__ == "__main__":
    sys.exit(convert_main())
