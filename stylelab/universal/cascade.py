"""Universal style transfer (Li et al. 2017): the coarse-to-fine WCT cascade.

Any style, no training per style. At each level ``L`` (``relu5_1`` first,
``relu1_1`` last)::

    f_c  = encoder_L(x)                  x: the image so far (the content at first)
    f_s  = encoder_L(style)              the style's features at the same layer
    f_cs = wct(f_c, f_s, alpha)          (stylelab.universal.wct: mix, regions)
    x    = decode_L(f_cs)

The coarse levels move large structures and colours; the fine ones put the
brush strokes back. ``decode_L`` is one of two roads:

* a trained decoder (:mod:`stylelab.nets.decoder`): one forward pass
  (:func:`load_decoders` reads a folder of them);
* inversion: start from ``x`` and change its pixels until its ``relu{L}_1``
  features are ``f_cs`` -- L-BFGS on ``1/2 ||encoder_L(x) - f_cs||^2``, the
  Gatys machinery (:class:`stylelab.gatys.objective.GatysObjective` with a content
  target and no style layers). Slower, but it needs nothing but VGG weights.

Images are RGB in [0, 1]; each level's output is clipped to that range
before the next encodes it.
"""

import os
from dataclasses import dataclass

import numpy as np

from ..backend import get_array_module, to_numpy
from ..gatys.objective import GatysObjective
from ..files.model_file import load_task_model
from ..nets.decoder import encoder_fingerprints, level_layer
from ..nets.tiled import apply_tiled, vgg_features_tiled
from ..optim import minimize
from .wct import EPS, wct_mix, wct_regions

LEVELS = (5, 4, 3, 2, 1)


@dataclass
class UniversalResult:
    """What :func:`universal_transfer` made."""

    image: object
    levels: tuple
    stopped: bool
    evaluations: int = 0       # of the inversion's loss, all levels together
    iterations: int = 0        # the inversion's L-BFGS iterations, all levels together


def pad_to_multiple(img, multiple):
    """Pad (H, W, C) at the bottom and right to sides that are multiples of `multiple`.

    By reflection (no dark frame), or by repeating the edge where the image is
    too small to reflect that far. Callers crop the result back.
    """
    h, w = img.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if not (ph or pw):
        return img
    mode = "reflect" if ph < h and pw < w else "edge"
    return get_array_module(img).pad(img, ((0, ph), (0, pw), (0, 0)), mode=mode)


def check_levels(levels):
    """Levels as a coarse-to-fine tuple: each once, from 5 .. 1."""
    levels = tuple(int(v) for v in levels)
    for v in levels:
        level_layer(v)                              # raises for a level outside 1..5
    if not levels or len(set(levels)) != len(levels):
        raise ValueError(f"levels must be distinct values from 1 to 5, got {list(levels)}")
    return tuple(sorted(levels, reverse=True))


def check_style_options(n_styles, style_weights=None, mask=False):
    """Refuse a mask with fewer than two styles, or a mask together with style weights."""
    if mask and n_styles < 2:
        raise ValueError("a mask assigns regions to two or more styles; give more style images")
    if mask and style_weights is not None:
        raise ValueError("a mask gives each region one style; style weights mix them "
                         "everywhere: use one or the other")


def labels_from_mask(mask, n_styles):
    """A grey mask in [0, 1] -> the style of each pixel: ``round(v * (n_styles - 1))``.

    Two styles: black pixels take the first, white ones the second; three:
    black, mid-grey, white; and so on.

    Parameters
    ----------
    mask : ndarray of shape (H, W)
    n_styles : int, at least 2

    Returns
    -------
    numpy int array of shape (H, W)
    """
    check_style_options(n_styles, mask=True)
    mask = np.asarray(to_numpy(mask), dtype=np.float64)
    return np.clip(np.rint(mask * (n_styles - 1)), 0, n_styles - 1).astype(np.int64)


def resize_labels(labels, h, w):
    """Nearest-neighbour resize of a label map to (h, w): the pixel under each cell's centre."""
    hh, ww = labels.shape
    rows = np.minimum(((np.arange(h) + 0.5) * hh / h).astype(np.int64), hh - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * ww / w).astype(np.int64), ww - 1)
    return labels[rows[:, None], cols[None, :]]


def load_decoders(folder, vgg, levels, encoder_name="these weights"):
    """``{level: decoder}`` from ``folder/relu{L}_1.h5``, each checked to fit the encoder `vgg`.

    A decoder learns to invert one encoder: its file records the encoder's
    fingerprint (:func:`stylelab.nets.decoder.encoder_fingerprints`), and a
    decoder of another level or of other VGG-19 weights (`encoder_name` in the
    message) is refused.
    """
    decoders = {}
    fingerprints = encoder_fingerprints(vgg, [level_layer(v) for v in levels])
    for level in levels:
        layer = level_layer(level)
        path = os.path.join(folder, f"{layer}.h5")
        if not os.path.exists(path):
            raise ValueError(f"no decoder {path}; train one with `stylelab train-decoder "
                             f"--level {level} --out {path}`")
        dec, meta = load_task_model(path, "decoder", vgg.dtype)
        if meta.get("level") != level:
            raise ValueError(f"{path} decodes relu{meta.get('level')}_1, not {layer}")
        if meta.get("encoder") != fingerprints[layer]:
            raise ValueError(f"{path} was trained on other VGG-19 weights than "
                             f"{encoder_name}; a decoder only inverts its own encoder")
        decoders[level] = dec
    return decoders


def _features(vgg, img, layers, tile=None):
    """{layer: features (1, h, w, C)} of one image, copies (the network reuses buffers);
    with `tile`, computed layer by layer over tiles (:mod:`stylelab.nets.tiled`)."""
    if tile:
        return vgg_features_tiled(vgg, img[None], list(layers), tile)
    feats = vgg.forward(img[None], layers=list(layers), keep_cache=False)    # no backward follows
    return {n: feats[n].copy() for n in layers}


def invert_features(vgg, target, layer, x0, iterations=50, tv_weight=0.0, callback=None,
                    tile=None):
    """The image whose `layer` features are `target`, by L-BFGS from `x0`.

    Parameters
    ----------
    vgg : stylelab.nets.vgg.VGG
    target : ndarray of shape (1, h, w, C)
        What ``vgg.forward(x)[layer]`` should be.
    layer : str
    x0 : ndarray of shape (H, W, 3)
        The start, RGB in [0, 1]; the image has its shape.
    iterations : int
    tv_weight : float
        Total variation, to keep the inverse smooth (0: none).
    callback : callable, optional
        ``callback(iteration, loss, x)`` after each iteration, `loss` being the
        last evaluation's; True stops the run.
    tile : int, optional
        Evaluate the loss over tiles (:mod:`stylelab.gatys.tiled`): the same
        loss and gradient, in memory that follows the tile.

    Returns
    -------
    stylelab.optim.OptimizeResult
    """
    objective = GatysObjective(vgg, x0, [], recipe="paper", content_layers=(layer,), style_layers=(),
                               content_weight=1.0, style_weight=0.0, tv_weight=tv_weight,
                               content_targets={layer: target}, tile=tile)
    report = None if callback is None else (
        lambda it, _evaluations, x: callback(it, objective.terms["total"], x))
    return minimize(objective, x0, iterations, "lbfgs", callback=report)


def universal_transfer(vgg, content, styles, *, decoders=None, levels=LEVELS, alpha=0.6,
                       style_weights=None, mask=None, iterations=50, tv_weight=0.0, eps=EPS,
                       convention="stylelab", callback=None, tile=None):
    """Li et al.'s cascade: WCT at each level, decoded or inverted, coarse to fine.

    Parameters
    ----------
    vgg : stylelab.nets.vgg.VGG
        VGG-19 (the encoder), holding at least the deepest level's layer.
    content : ndarray of shape (H, W, 3)
        RGB in [0, 1], the network's dtype.
    styles : ndarray of shape (Hs, Ws, 3), or a list of them
    decoders : mapping level -> TransformNet, optional
        Trained decoders (:func:`load_decoders`, :func:`stylelab.nets.decoder.make_decoder`) for every
        level used. None: invert the features by L-BFGS instead.
    levels : sequence of int
        Which of ``relu5_1 .. relu1_1`` to use (run coarse to fine).
    alpha : float in [0, 1]
        How much of the transformed features to keep at each level.
    style_weights : sequence of float, optional
        Interpolation between several styles (whiten once, colour with
        each, mix); default equal. Not with `mask`.
    mask : ndarray of shape (H, W), optional
        Grey values in [0, 1] assigning regions to styles
        (:func:`labels_from_mask`).
    iterations : int
        L-BFGS iterations per level (inversion only).
    tv_weight : float
        Total variation weight of the inversion.
    eps : float
        The eigenvalue threshold of the transforms (:mod:`stylelab.universal.wct`).
    convention : {"stylelab", "official", "pytorch-wct"}
        Whose transform (:mod:`stylelab.universal.wct`). ``"stylelab"`` also
        clips each level's decoded image to [0, 1]; the released codes hand
        the next level the decoder's output as it is (the picture is clipped
        when saved), and so do their conventions here.
    callback : callable, optional
        ``callback(level, iteration, x, loss)`` after each decoded level
        (``iteration`` 0, ``loss`` None) or each L-BFGS iteration (``loss``:
        ``1/2 ||encoder_L(x) - f_cs||^2``); True stops the run.
    tile : int, optional
        Run the encoder and each decoder layer by layer over tiles of this
        side (:mod:`stylelab.nets.tiled`), or the inversion's objective over
        tiles with halos (:mod:`stylelab.gatys.tiled`): the same picture in
        memory that follows the tile. The transforms take each level's
        features whole (their covariances are the whole picture's).

    Returns
    -------
    UniversalResult
        ``image`` (H, W, 3) in [0, 1], the ``levels`` done, whether Ctrl-C
        (or the callback) stopped the run early, and the inversion's loss
        ``evaluations``.
    """
    if not isinstance(styles, (list, tuple)):
        styles = [styles]
    levels = check_levels(levels)
    labels = _check_inputs(vgg, content, styles, levels, decoders, style_weights, mask)

    xp = get_array_module(content)
    h, w = content.shape[:2]
    # A decoder's output is 2**(L-1) times its input: pad so every level divides.
    x = pad_to_multiple(content, 2 ** (levels[0] - 1))
    if labels is not None:
        labels = _pad_labels(labels, x.shape[:2])
    # The styles do not change from level to level: one pass each gives their
    # features at every level (the content's must be taken from the image so far).
    style_feats = [_features(vgg, s, [level_layer(v) for v in levels], tile) for s in styles]
    done, stopped, evaluations, iterations_done = [], False, 0, 0
    for v in levels:
        layer = level_layer(v)
        fc = _features(vgg, x, [layer], tile)[layer]
        fs = [f.pop(layer) for f in style_feats]
        if labels is None:
            fcs = wct_mix(fc, fs, style_weights, alpha, eps, convention)
        else:
            fcs = wct_regions(fc, fs, resize_labels(labels, *fc.shape[1:3]), alpha, eps,
                              convention)
        del fc, fs
        if decoders is not None:
            x = apply_tiled(decoders[v], fcs[0], tile) if tile else decoders[v].apply(fcs[0])
            if convention == "stylelab":
                xp.clip(x, 0.0, 1.0, out=x)
            done.append(v)
            if callback is not None and callback(v, 0, x, None):
                stopped = True
                break
        else:
            stop = []

            def on_iteration(it, loss, xi, v=v):
                if callback is not None and callback(v, it, xi, loss):
                    stop.append(True)
                    return True
                return False

            res = invert_features(vgg, fcs, layer, x, iterations, tv_weight, on_iteration, tile)
            x, evaluations = res.x, evaluations + res.evaluations
            iterations_done += res.iterations
            done.append(v)
            if stop or res.interrupted:
                stopped = True
                break
    image = x[:h, :w]
    if convention != "stylelab":
        image = xp.clip(image, 0.0, 1.0)        # as the released codes' saving clamps it
    return UniversalResult(image, tuple(done), stopped, evaluations, iterations_done)


def _pad_labels(labels, shape):
    """Labels of the unpadded image, edge-extended to the padded image's `shape`."""
    h, w = labels.shape
    return np.pad(labels, ((0, shape[0] - h), (0, shape[1] - w)), mode="edge")


def _check_inputs(vgg, content, styles, levels, decoders, style_weights, mask):
    """Refuse what cannot work, before any work; the mask's labels (or None)."""
    if not styles:
        raise ValueError("at least one style image is needed")
    check_style_options(len(styles), style_weights, mask is not None)
    deepest = level_layer(levels[0])
    need = vgg.min_size(deepest)                 # also: the weights reach that layer
    for what, img in [("content", content)] + [("style", s) for s in styles]:
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"the {what} image must have shape (H, W, 3), got {tuple(img.shape)}")
        if img.dtype != vgg.dtype:
            raise ValueError(f"the {what} image has dtype {img.dtype} but the network is "
                             f"{vgg.dtype}")
        if min(img.shape[:2]) < need:
            raise ValueError(f"the {what} image ({img.shape[1]}x{img.shape[0]}) is too small "
                             f"for {deepest}: it needs {need} pixels a side")
    for v in levels if decoders is not None else ():
        layer, dec = level_layer(v), decoders.get(v)
        if dec is None:
            raise ValueError(f"no decoder for {layer}")
        if dec.in_channels != vgg.params[layer.replace("relu", "conv")][0].shape[0]:
            raise ValueError(f"the decoder for {layer} takes {dec.in_channels} channels, "
                             f"not that layer's")
        if dec.dtype != vgg.dtype:
            raise ValueError(f"the decoder for {layer} is {dec.dtype}, the encoder {vgg.dtype}")
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(content.shape[:2]):
        raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the content is "
                         f"{content.shape[1]}x{content.shape[0]}")
    return labels_from_mask(mask, len(styles))
