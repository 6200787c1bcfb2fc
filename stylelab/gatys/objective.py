"""The objective of Gatys et al. 2015: content, style and TV losses through VGG, and their gradient.

The method, as in the paper:

1. Run the photograph through VGG-19 and keep its ``relu4_2`` activations
   ``P`` (the content target).
2. Run the painting through it and keep the Gram matrices ``A`` of
   ``relu1_1 ... relu5_1`` (the style targets).
3. Start from white noise and change the pixels so that the image's own
   ``F`` and ``G`` match ``P`` and ``A``:
   ``L = content_weight * L_c + style_weight * L_s + tv_weight * TV``,
   minimised by L-BFGS with the gradient the network carries back.

:class:`GatysObjective` is step 3's ``loss, grad = objective(x)``;
:func:`stylelab.gatys.stylize.stylize` runs the whole thing. Which layers,
weights and normalisations it uses is a recipe
(:mod:`stylelab.gatys.recipes`): the paper's, neural-style's or PyTorch's
tutorial's, by default the one made for the network's weights.
"""

import warnings
from collections.abc import Mapping

import numpy as np

from ..profile import timed
from . import losses, tiled
from .fast_losses import KeptStyleLoss
from .recipes import get_recipe, gradient_scale, input_gain, recipe_layers

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def layer_weights(layers, what):
    """``{name: weight}`` from names (equal weights summing to 1) or a mapping."""
    if isinstance(layers, str):
        layers = (layers,)
    if isinstance(layers, Mapping):
        out = {str(k): float(v) for k, v in layers.items()}
    else:
        names = list(layers)
        out = {n: 1.0 / len(names) for n in names}
        if len(out) != len(names):
            raise ValueError(f"{what} layers are listed twice: {names}")
    if any(not np.isfinite(w) or w < 0 for w in out.values()):
        raise ValueError(f"{what} layer weights must be finite and >= 0, got {out}")
    return out


def blend_weights(blend, n_styles, what="style blend weights"):
    """One weight per style image, normalised to sum to 1 (None: equal).

    `what` names the weights in the error (a command passes its flag).
    """
    if blend is None:
        return [1.0 / n_styles] * n_styles
    blend = [float(b) for b in blend]
    if len(blend) != n_styles:
        raise ValueError(f"{len(blend)} {what} for {n_styles} style images")
    if any(not np.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(f"{what} must be >= 0 with a positive sum, got {blend}")
    return [b / sum(blend) for b in blend]


def _renamed(given, old, new, value):
    """`value`, or the one passed under its old name `old` (warned); anything else in `given` refused."""
    unknown = sorted(set(given) - {old})
    if unknown:
        raise TypeError(f"GatysObjective got an unexpected keyword argument {unknown[0]!r}")
    if old in given:
        warnings.warn(f"{old}= is deprecated: the name is {new}= (one spelling, as "
                      f"normalisation=)", DeprecationWarning, stacklevel=3)
        return given[old]
    return value


def _check_image(img, what, dtype):
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"the {what} image must have shape (H, W, 3), got {tuple(img.shape)}")
    if img.dtype != dtype:
        raise ValueError(f"the {what} image has dtype {img.dtype} but the network is {dtype}")


class GatysObjective:
    """``loss, grad = objective(x)``: the total loss of Gatys et al. and its gradient.

    Parameters
    ----------
    net : stylelab.nets.vgg.VGG
    content : ndarray of shape (H, W, 3)
        The photograph, RGB in [0, 1], in the network's dtype. The image
        being made has its shape.
    styles : ndarray of shape (H_s, W_s, 3), or a list of them
        The painting(s); any size each.
    recipe : {"neural-style", "tutorial", "paper"}, Recipe or None
        Whose objective (:mod:`stylelab.gatys.recipes`): its layers, weights,
        normalisation and TV are the defaults of the options below. None:
        the recipe made for the network's weights.
    content_layers, style_layers : sequence of str, or mapping name -> weight, optional
        A sequence gives every layer the same weight, ``1 / len(layers)`` (an
        average over the layers); a mapping gives each its own.
    content_weight, style_weight, tv_weight : float, optional
        The paper's alpha and beta, and the weight of the total variation.
    style_blend : sequence of float, optional
        One weight per style image (normalised to sum to 1); the target Gram
        matrices are the blend of each style's. Default: equal.
    statistic : {"gram", "covariance"}
        Match Gram matrices (the paper) or covariance matrices.
    content_targets : mapping layer -> ndarray of shape (1, h, w, C), optional
        Features to match instead of the content image's: the image is then
        only the start's shape. Inverting given features (Li et al.'s
        training-free path, :mod:`stylelab.universal.cascade`) is this objective
        with no style layers.
    normalise_gradients : bool
        neural-style's ``-normalize_gradients``
        (:func:`stylelab.gatys.recipes.gradient_scale`).
    tile : int, optional
        Compute everything over tiles of this side (rounded up to a multiple
        of the network's total stride), each with a halo as wide as the
        deepest layer's receptive field (:mod:`stylelab.gatys.tiled`): the
        same loss and gradient, in memory that follows the tile. The style
        targets are computed over tiles of the paintings too.

    Notes
    -----
    ``G`` sums over positions, so a style image of another size than the
    content gives a Gram matrix of another scale; each style's ``A`` is
    rescaled to the content's number of positions (:func:`stylelab.gatys.losses.scale_gram`).
    After a call, ``objective.terms`` holds the weighted terms
    (``content``, ``style``, ``tv``) and their ``total``.

    The losses are :mod:`stylelab.gatys.losses`' functions, called as written
    there. With the fast VGG engine (``net.engine == "fast"``) the style
    losses keep their arrays between calls and use the fast kernels' BLAS
    (:class:`stylelab.gatys.fast_losses.KeptStyleLoss`): the same numbers.
    """

    def __init__(self, net, content, styles, recipe=None, content_layers=None,
                 style_layers=None, content_weight=None, style_weight=None, tv_weight=None,
                 style_blend=None, statistic="gram", content_targets=None,
                 normalise_gradients=False, tile=None, **deprecated):
        self.recipe = recipe = get_recipe(recipe, net)
        content_layers, style_layers = recipe_layers(recipe, net, content_layers, style_layers)
        content_weight = recipe.content_weight if content_weight is None else content_weight
        style_weight = recipe.style_weight if style_weight is None else style_weight
        tv_weight = recipe.tv_weight if tv_weight is None else tv_weight
        if not isinstance(styles, (list, tuple)):
            styles = [styles]
        if not styles and style_layers:
            raise ValueError("at least one style image is needed")
        _check_image(content, "content", net.dtype)
        for s in styles:
            _check_image(s, "style", net.dtype)
        for name, w in (("content", content_weight), ("style", style_weight), ("tv", tv_weight)):
            if not np.isfinite(w) or w < 0:
                raise ValueError(f"the {name} weight must be finite and >= 0, got {w}")
        self.net, self.statistic = net, statistic
        self.shape = tuple(content.shape)
        self.content_layers = layer_weights(content_layers, "content")
        self.style_layers = layer_weights(style_layers, "style")
        if not self.content_layers and not self.style_layers:
            raise ValueError("no content or style layers to optimise for")
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.normalise_gradients = bool(_renamed(deprecated, "normalize_gradients",
                                                 "normalise_gradients", normalise_gradients))
        self.layers = list(dict.fromkeys([*self.content_layers, *self.style_layers]))
        blend = blend_weights(style_blend, len(styles)) if styles else []
        # neural-style feeds its VGG pixels x 256 where Caffe's convention says
        # 255: every image goes in times this gain, every gradient comes out times it.
        self.gain = net.dtype.type(input_gain(recipe, net))

        self.tile = None if tile is None else tiled.check_tile(tile)
        if self.tile:
            self._init_tiled(content, styles, blend, content_targets)
        else:
            self._init_whole(content, styles, blend, content_targets)
        self.terms = {}
        norm = recipe.normalisation
        if net.engine == "fast":
            self._style_loss = KeptStyleLoss(statistic, norm, net.scratch_limit)
        else:
            self._style_loss = lambda name, f, a: losses.style_loss(f, a, statistic, norm)

    def _grid(self, img):
        return tiled.TileGrid(self.net, img.shape[:2], self.net.deepest(self.layers), self.tile)

    def _init_tiled(self, content, styles, blend, content_targets):
        """The targets of :meth:`_init_whole`, computed over tiles (:mod:`stylelab.gatys.tiled`)."""
        net = self.net
        self.grid = self._grid(content)
        if content_targets is None:
            self.content_targets = tiled.tiled_content_targets(self, content,
                                                               list(self.content_layers),
                                                               self.grid)
        else:
            self.content_targets = {n: content_targets[n] for n in self.content_layers}
        positions = {n: tiled.feature_side(net, content.shape[0], n)
                     * tiled.feature_side(net, content.shape[1], n) for n in self.style_layers}
        self.style_targets = {}
        for style, b in zip(styles, blend):
            grams, counts = tiled.tiled_gram(self, style, list(self.style_layers),
                                             self._grid(style), self.statistic)
            for n in self.style_layers:
                a = losses.scale_gram(grams[n], counts[n], positions[n]) * style.dtype.type(b)
                self.style_targets[n] = a if n not in self.style_targets else self.style_targets[n] + a

    def _init_whole(self, content, styles, blend, content_targets):
        net, statistic = self.net, self.statistic
        # The targets, computed once. The content's features at the style
        # layers give the number of positions the image being made will have.
        feats = (net.forward(self.network_input(content[None]), layers=self.layers)
                 if content_targets is None or self.style_layers else {})
        # Copies: the features are views into buffers the network will reuse.
        if content_targets is None:
            self.content_targets = {n: feats[n].copy() for n in self.content_layers}
        else:
            self.content_targets = {n: content_targets[n] for n in self.content_layers}
        positions = {n: feats[n].shape[1] * feats[n].shape[2] for n in self.style_layers}
        del feats                 # free the photo's activations before the painting's
        self.style_targets = {}
        for style, b in zip(styles, blend):
            sfeats = net.forward(self.network_input(style[None]), layers=list(self.style_layers))
            for n in self.style_layers:
                f = sfeats[n]
                a = losses.scale_gram(losses.gram(f, statistic),
                                      f.shape[1] * f.shape[2], positions[n]) * f.dtype.type(b)
                self.style_targets[n] = a if n not in self.style_targets else self.style_targets[n] + a
            del sfeats

    def network_input(self, x):
        """What the network is given for image `x`: times neural-style's gain, if any."""
        return x * self.gain if self.gain != 1 else x

    def __call__(self, x):
        """The loss and its gradient at image `x`.

        Parameters
        ----------
        x : ndarray of shape (H, W, 3)
            RGB in [0, 1], the content's shape, the network's dtype.

        Returns
        -------
        loss : float
        grad : ndarray of shape (H, W, 3)
        """
        if tuple(x.shape) != self.shape:
            raise ValueError(f"the image has shape {tuple(x.shape)}, the objective "
                             f"was built for {self.shape}")
        dtype = x.dtype.type
        profile = self.net.profile
        if self.tile:
            content, style, grad = tiled.tiled_loss_and_grad(self, x, self.grid)
            return self._finish(x, content, style, grad)
        # Each call overwrites the last one's features: nothing is kept between calls.
        feats = self.net.forward(self.network_input(x[None]), layers=self.layers, reuse_buffers=True)
        grads = {}
        content = style = 0.0
        norm, scale = self.recipe.normalisation, self.normalise_gradients
        with timed(profile, "content loss"):
            for n, w in self.content_layers.items():
                value, g = losses.content_loss(feats[n], self.content_targets[n], norm)
                content += w * value
                g *= dtype(gradient_scale(self.content_weight * w, scale))   # g is ours
                grads[n] = g
        with timed(profile, "style loss (Gram)"):
            for n, w in self.style_layers.items():
                value, g = self._style_loss(n, feats[n], self.style_targets[n])
                style += w * value
                g *= dtype(gradient_scale(self.style_weight * w, scale))
                if n in grads:
                    grads[n] += g
                else:
                    grads[n] = g
        grad = self.net.backward(grads, release=True)[0]
        return self._finish(x, content, style, grad)

    def _finish(self, x, content, style, grad):
        """The gain, the TV term (the whole image's: it is cheap and local) and the totals."""
        dtype, profile = x.dtype.type, self.net.profile
        if self.gain != 1:
            grad *= self.gain
        tv = 0.0
        if self.tv_weight:
            with timed(profile, "TV loss"):
                tv, tv_grad = losses.tv_loss(x, self.recipe.tv, self.recipe.pixel_scale or 1.0)
                grad += tv_grad * dtype(self.tv_weight)
        self.terms = {"content": self.content_weight * content,
                      "style": self.style_weight * style,
                      "tv": self.tv_weight * tv}
        self.terms["total"] = sum(self.terms.values())
        return self.terms["total"], grad
