"""The four networks trained by one loop: a style network, super-resolution, Li et al.'s and AdaIN's decoders.

Each task is the :class:`~stylelab.johnson.training.Trainer` with its own
network, input and loss:

================  ================================  =================  ==================================
task              network                           input              loss (through VGG)
================  ================================  =================  ==================================
style             Johnson et al.'s ``STYLE_ARCH``   the photo          feature (VGG-16 relu2_2) + style + TV
super-resolution  ``SR_ARCH[factor]``               blurred, shrunk    feature (relu2_2) [+ pixel] + TV
decoder           VGG-19 read backwards (Li et al.) relu{L}_1 features pixel + feature (VGG-19 relu{L}_1)
adain             the relu4_1 decoder (Huang &      AdaIN of photo     content at relu4_1 + means and stds
                  Belongie)                         and painting       at relu1_1 ... relu4_1
================  ================================  =================  ==================================

What shapes a run (architecture, batch, crop size, learning rate, seed,
loss weights) has a default per task (:data:`TASKS`) and is recorded in
every checkpoint; a resumed run takes it from there (:func:`settle_options`)
and must see the same style image, data files and encoder
(:func:`check_resumable`), so that it draws the batches the first run would
have.
"""

import hashlib
import math
import os

import numpy as np

from ..files.convert import sha256_of
from ..files.images import load_image
from ..files.vgg_h5 import weights_source
from ..files.weights import load_paper_vgg
from ..nets.decoder import encoder_fingerprint, level_layer, make_decoder
from ..nets.transform import SR_ARCH, STYLE_ARCH, TransformNet
from .adain_loss import CONTENT_LAYER as ADAIN_CONTENT, STYLE_LAYERS as ADAIN_STYLE, AdainLoss
from .data import ImageFolder
from .perceptual import CONTENT_LAYERS, STYLE_LAYERS, PerceptualLoss
from .superres import degrade
from .training import Trainer, identity

STYLE_DEFAULTS = dict(arch=STYLE_ARCH, upsample="nearest", batch_size=4, crop_size=256,
                      lr=1e-3, seed=0, content_weight=1.0, style_weight=1e5, tv_weight=1e-6,
                      style_size=512)
SR_DEFAULTS = dict(arch=None, upsample="nearest", batch_size=4, crop_size=288, lr=1e-3,
                   seed=0, content_weight=1.0, tv_weight=0.0, pixel_weight=0.0, factor=4)
# Li et al.: pixel + feature reconstruction with lambda = 1 (here on per-element means).
DECODER_DEFAULTS = dict(level=None, batch_size=4, crop_size=256, lr=1e-4, seed=0,
                        content_weight=1.0, tv_weight=0.0, pixel_weight=1.0)
# Huang & Belongie (pytorch-AdaIN's train.py): batches of 8, lr 1e-4, content 1, style 10.
ADAIN_DEFAULTS = dict(batch_size=8, crop_size=256, lr=1e-4, seed=0, content_weight=1.0,
                      style_weight=10.0, tv_weight=0.0)
TASKS = {"style": STYLE_DEFAULTS, "super-resolution": SR_DEFAULTS, "decoder": DECODER_DEFAULTS,
         "adain": ADAIN_DEFAULTS}
# What a resumed run must share with the checkpoint, and how to name it.
RESUME_KEYS = {"style_sha256": "style image", "data_fingerprint": "data folder's file list",
               "styles_fingerprint": "style folder's file list", "encoder": "VGG-19 encoder"}


class PhotosAndPaintings:
    """The photos' :class:`ImageFolder`, each batch paired with the paintings' batch at the same cursor.

    The pairing follows the cursor the checkpoint records, so a resumed run
    draws the pairs the first run would have. Anything else (``size``,
    ``unreadable``, ``first_crop``) is the photos'.
    """

    def __init__(self, photos, paintings):
        self.photos, self.paintings = photos, paintings
        self._pair = None

    def __getattr__(self, name):
        return getattr(self.photos, name)

    def batch(self, cursor, n):
        photos, after = self.photos.batch(cursor, n)
        self._pair = (photos, self.paintings.batch(cursor, n)[0])
        return photos, after

    def styles_for(self, photos):
        """The paintings drawn with `photos` (for a sample: the first paintings)."""
        if self._pair is not None and self._pair[0] is photos:
            return self._pair[1]
        return self.paintings.batch(0, len(photos))[0]


def settle_options(task, given, checkpoint_meta=None):
    """The run's options: `given` ones (None: not given), else the checkpoint's, else the defaults.

    A given option that contradicts the checkpoint is refused: a resumed run
    keeps the options it started with.
    """
    opts = {}
    for key, default in TASKS[task].items():
        value = given.get(key)
        if checkpoint_meta is None:
            opts[key] = default if value is None else value
            continue
        stored = checkpoint_meta.get(key)
        if value is not None and stored is not None and value != stored:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{flag} {value} differs from the checkpoint's {stored}; "
                             f"a resumed run keeps the options it started with")
        if stored is not None:
            stored = _stored_option(key, stored, default)
        opts[key] = stored if stored is not None else default
    if task == "super-resolution":
        opts["arch"] = opts["arch"] or SR_ARCH[opts["factor"]]
    return opts


def _stored_option(key, stored, default):
    """A checkpoint's option, checked to be of its default's kind (the file is untrusted)."""
    if isinstance(stored, np.generic):
        stored = stored.item()
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    if default is None:                           # an architecture, a decoder's level
        ok = isinstance(stored, (str, int)) and not isinstance(stored, bool)
    elif isinstance(default, str):
        ok = isinstance(stored, str)
    elif isinstance(default, bool):
        ok = isinstance(stored, bool)
    elif isinstance(default, int):
        ok = isinstance(stored, int) and not isinstance(stored, bool) and 0 <= stored < 1 << 31
    else:
        ok = isinstance(stored, (int, float)) and not isinstance(stored, bool) and \
            math.isfinite(stored) and stored >= 0
    if not ok:
        raise ValueError(f"the checkpoint's {key} is {stored!r:.60}, not a {type(default).__name__}"
                         f" as {key} is; not a checkpoint stylelab wrote")
    return stored


def data_fingerprint(files, root):
    """SHA-256 of the data files' names relative to `root`: the same list, the same batches."""
    h = hashlib.sha256()
    for f in files:
        h.update(os.path.relpath(f, root).encode() + b"\0")
    return h.hexdigest()


def check_resumable(checkpoint_meta, meta, checkpoint_path):
    """Refuse to resume a run whose style image, data files or encoder have changed."""
    for key, what in RESUME_KEYS.items():
        if checkpoint_meta.get(key) != meta.get(key):
            raise ValueError(f"the {what} differs from the one {checkpoint_path} was trained "
                             f"with; resuming would not continue the same run")


def build(task, opts, data, weights=None, style=None, dtype=np.float32, quiet=False):
    """A :class:`~stylelab.johnson.training.Trainer` for `task`, and the metadata its files record.

    Parameters
    ----------
    task : {"style", "super-resolution", "decoder", "adain"}
    opts : dict
        From :func:`settle_options`.
    data : str
        The folder of training photos.
    weights : str, optional
        The loss network's VGG weights (VGG-16; VGG-19 for a decoder), found
        as :func:`stylelab.files.weights.resolve_weights` does if omitted.
        A super-resolution run with the pixel loss alone loads none.
    style : str, optional
        The style image (the style task only).
    dtype : float dtype
    quiet : bool
        No download progress bar.

    Returns
    -------
    trainer : Trainer
    meta : dict
        What the model file records: the task, `opts`, the data's and the
        loss network's identity, the layers.
    """
    dtype = np.dtype(dtype)
    meta = {"task": task, **opts}
    images = ImageFolder(data, size=opts["crop_size"], seed=opts["seed"], dtype=dtype)
    meta["data_files"] = len(images.files)
    meta["data_fingerprint"] = data_fingerprint(images.files, data)
    # The decoder's encoder is its loss network; else the pixel loss alone may need none.
    uses_vgg = task != "super-resolution" or opts["content_weight"] > 0
    arch = "vgg19" if task in ("decoder", "adain") else "vgg16"
    vgg, meta["loss_network"] = None, "none (per-pixel loss only)"
    if uses_vgg:
        upto = {"decoder": level_layer(opts.get("level") or 1), "adain": "relu4_1"}.get(task)
        vgg, path = load_paper_vgg(weights, arch, dtype, "loss network", upto, quiet)
        meta["loss_network"] = f"{arch} ({weights_source(path)})"
    if task == "adain":
        paintings = ImageFolder(style, size=opts["crop_size"], seed=opts["seed"] + 1, dtype=dtype)
        meta["styles_fingerprint"] = data_fingerprint(paintings.files, style)
        images = PhotosAndPaintings(images, paintings)
        net, loss, make_input = _adain_task(opts, vgg, meta, images, dtype)
    elif task == "decoder":
        net, loss, make_input = _decoder_task(opts, vgg, meta, dtype)
    elif task == "style":
        net, loss, make_input = _style_task(opts, vgg, meta, style, dtype)
    else:
        net, loss, make_input = _super_resolution_task(opts, vgg, meta, dtype)
    _check_sizes(task, opts, net, loss, vgg)
    return Trainer(net, loss, images, opts["batch_size"], opts["lr"], make_input), meta


def _style_task(opts, vgg, meta, style, dtype):
    net = TransformNet(opts["arch"], opts["upsample"], seed=opts["seed"], dtype=dtype)
    image = load_image(style, size=opts["style_size"], dtype=dtype)[None]
    meta.update(style_name=os.path.basename(style), style_sha256=sha256_of(style),
                content_layers=list(CONTENT_LAYERS), style_layers=list(STYLE_LAYERS))
    loss = PerceptualLoss(vgg, image, opts["content_weight"], opts["style_weight"],
                          opts["tv_weight"])
    return net, loss, identity


def _super_resolution_task(opts, vgg, meta, dtype):
    net = TransformNet(opts["arch"], opts["upsample"], seed=opts["seed"], dtype=dtype)
    meta.update(content_layers=list(CONTENT_LAYERS) if opts["content_weight"] else [])
    loss = PerceptualLoss(vgg, None, opts["content_weight"], 0.0, opts["tv_weight"],
                          pixel_weight=opts["pixel_weight"])
    factor = int(net.factor)

    def make_input(photos):                  # blurred and shrunk, as in the paper
        return degrade(photos, factor)
    return net, loss, make_input


def _decoder_task(opts, vgg, meta, dtype):
    net = make_decoder(opts["level"], seed=opts["seed"], dtype=dtype)
    layer = level_layer(opts["level"])
    meta.update(content_layers=[layer], encoder=encoder_fingerprint(vgg, layer))
    loss = PerceptualLoss(vgg, None, opts["content_weight"], 0.0, opts["tv_weight"],
                          content_layers=(layer,), pixel_weight=opts["pixel_weight"])

    def make_input(photos):                  # the encoder's features, the decoder's input
        return vgg.forward(photos, layers=[layer])[layer].copy()
    return net, loss, make_input


def _adain_task(opts, vgg, meta, data, dtype):
    net = make_decoder(4, seed=opts["seed"], dtype=dtype)
    meta.update(level=4, content_layers=[ADAIN_CONTENT], style_layers=list(ADAIN_STYLE),
                encoder=encoder_fingerprint(vgg, ADAIN_CONTENT))
    loss = AdainLoss(vgg, data, opts["content_weight"], opts["style_weight"])
    return net, loss, loss.decoder_input


def _check_sizes(task, opts, net, loss, vgg):
    if task != "style":
        # Reconstruction (super-resolution, decoders): the photos are the targets,
        # and the network makes them from an input `factor` times smaller.
        if not loss.layers and not opts.get("pixel_weight"):
            raise ValueError("with --content-weight 0 and --pixel-weight 0 there is nothing "
                             "to learn from")
        if opts["crop_size"] % int(net.factor):
            raise ValueError(f"--crop-size {opts['crop_size']} must be a multiple of "
                             f"{int(net.factor)} (the network upsamples that much)")
    # The crops feed VGG up to its deepest loss layer, and (shrunk by the SR
    # factor) the network.
    shrink = int(net.factor) if task != "style" else 1
    need = net.min_side() * shrink
    if loss.layers:
        need = max(need, vgg.min_size(max(loss.layers, key=vgg.names.index)))
    if opts["crop_size"] < need:
        raise ValueError(f"--crop-size {opts['crop_size']} is too small: the network and the loss "
                         f"layers need at least {need} pixels")
