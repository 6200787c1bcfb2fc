"""The networks, built from :mod:`stylelab.layers` (``engine="readable"``) or :mod:`stylelab.layers.fast`.

* ``vgg``: VGG-16/19 written out as a table of named layers -- the network
  Gatys et al. look through, and Johnson et al.'s and Li et al.'s loss network
  and encoder.
* ``fast_vgg``: the same network computed fast (the engine
  :func:`stylelab.files.weights.load_vgg` builds by default).
* ``transform``: Johnson et al.'s image transformation network, from an
  architecture string (either engine: the same numbers).
* ``decoder``: Li et al.'s decoders, VGG-19 read backwards (transformation
  networks without norms).
* ``tiled``: those networks layer by layer over tiles, for pictures of any
  size (the same numbers), and the receptive field of a layer table.
"""
