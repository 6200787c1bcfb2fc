"""Files: everything stylelab reads and writes, and where weights come from.

* ``atomic``: every output is written to a temporary file and renamed.
* ``images``: pictures in and out (Pillow on the host, arrays on the backend).
* ``history``: loss histories as CSV or JSON, and their plots.
* ``vgg_h5``: stylelab's HDF5 layout for VGG weights.
* ``pth``: PyTorch checkpoints read without PyTorch and without running them.
* ``convert``: VGG weights from torchvision, Keras and MatConvNet files.
* ``download``: torchvision's VGG files fetched, checked and converted into the cache.
* ``weights``: where VGG weights are found, and ``load_vgg``.
* ``model_file``: trained transformation networks (and checkpoints) as HDF5.

Every file read is untrusted data: nothing in it is ever run.
"""
