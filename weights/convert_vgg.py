#!/usr/bin/env python3
"""Convert VGG weights (torchvision .pth, Keras .h5, MatConvNet .mat) to stylelab's HDF5.

    python weights/convert_vgg.py SRC DST [--half] [--upto relu5_1]

The same as ``stylelab weights convert``; the code lives in ``stylelab/convert.py``.
"""

import sys

from stylelab.convert import main

if __name__ == "__main__":
    sys.exit(main())
