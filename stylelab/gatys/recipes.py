"""Recipes: the objective of Gatys et al. as each known-good implementation writes it.

The paper gives the losses' form; the implementations whose pictures are
known to be good each fixed the constants for the VGG they ran, and those
constants do not carry over from one VGG to another (``docs/gatys.md``
derives why). A recipe is one implementation's choices, all of them:

============  ==========================  ===========================  ==============
              ``neural-style``            ``tutorial``                 ``paper``
============  ==========================  ===========================  ==============
reference     ProGamerGov/neural-style-pt PyTorch's neural style       Gatys et al.
              ``neural_style.py``         tutorial                     2015
weights       Caffe's VGG-19, BGR,        torchvision's VGG-19,        any (the
              pixels x 256 minus mean     [0, 1] minus mean, / std     normalised VGG)
content       relu4_2, weight 5           conv2_2 (pre-ReLU), 1        relu4_2, 1
style         relu1_1 ... relu5_1, 100    conv1_1, conv1_2, conv2_1,   relu1_1 ...
                                          conv2_2, conv3_1; 1e6        relu5_1; 1e3
layers        summed                      summed                       averaged
content loss  mean((F - P)^2)             mean((F - P)^2)              1/2 sum((F - P)^2)
style loss    mean((G - A)^2 / (C M)^2)   mean((G - A)^2 / (C M)^2)    sum((G - A)^2) /
                                                                       (4 C^2 M^2)
TV            1e-3 x L1 of the            none                         none
              network's input
start         the mean pixel + noise      the photograph               white noise
              (sd 0.001 in its units)
iterations    1000                        300                          500
============  ==========================  ===========================  ==============

``C`` is a layer's channels, ``M = H * W`` its positions, ``G = F^T F``.
neural-style's ``-normalize_gradients`` is ``normalise_gradients=True``:
each loss term keeps its value but its gradient is scaled by
``s^2 / (|s| + 1e-8)`` more (``s`` its weight), as its ``ScaleGradients``
does. Every recipe is proven against a PyTorch re-implementation of its
reference in ``tests/test_recipes.py``.

The default follows the weights: Caffe's VGG -> ``neural-style``,
torchvision's -> ``tutorial``, the normalised VGG -> ``paper``
(:func:`default_recipe`).
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Recipe:
    """One implementation's objective and its defaults (see the module's table)."""

    name: str
    reference: str
    content_layers: dict
    style_layers: dict
    content_weight: float
    style_weight: float
    tv_weight: float
    normalisation: str           # "paper" or "mse": how content and style losses are scaled
    tv: str                      # "squared" (on the RGB image) or "l1" (on the network's input)
    init: str                    # "noise", "content" or "mean" (the mean pixel plus noise)
    iterations: int
    pixel_scale: float = None    # the pixels' scale the reference feeds its VGG (None: the weights')
    families: tuple = field(default=("caffe", "torchvision", "normalised"))


RECIPES = {
    "neural-style": Recipe(
        name="neural-style", reference="ProGamerGov/neural-style-pt's neural_style.py",
        content_layers={"relu4_2": 1.0},
        style_layers={n: 1.0 for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")},
        content_weight=5.0, style_weight=100.0, tv_weight=1e-3, normalisation="mse", tv="l1",
        init="mean", iterations=1000, pixel_scale=256.0, families=("caffe", "normalised")),
    "tutorial": Recipe(
        name="tutorial", reference="PyTorch's neural style tutorial",
        content_layers={"conv2_2": 1.0},
        style_layers={n: 1.0 for n in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")},
        content_weight=1.0, style_weight=1e6, tv_weight=0.0, normalisation="mse", tv="squared",
        init="content", iterations=300, families=("torchvision",)),
    "paper": Recipe(
        name="paper", reference="Gatys et al. 2015",
        content_layers={"relu4_2": 1.0},
        style_layers={n: 0.2 for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")},
        content_weight=1.0, style_weight=1e3, tv_weight=0.0, normalisation="paper",
        tv="squared", init="noise", iterations=500),
}
DEFAULTS = {"caffe": "neural-style", "torchvision": "tutorial", "normalised": "paper"}
WHY = {"caffe": "Caffe's VGG, as neural-style runs it",
       "torchvision": "torchvision's VGG, as PyTorch's tutorial runs it",
       "normalised": "the normalised VGG of Gatys et al."}


def default_recipe(net):
    """The recipe made for `net`'s weights, by their family (module notes)."""
    return RECIPES[DEFAULTS[net.family]]


def get_recipe(recipe, net):
    """A :class:`Recipe` from a name, a Recipe, or None (the weights' default), checked to fit `net`.

    Raises ValueError in one line when the recipe does not fit the weights:
    its constants were tuned for another VGG's scale, or it reads layers the
    weights do not reach.
    """
    if recipe is None:
        recipe = default_recipe(net)
    elif isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
        recipe = RECIPES[recipe]
    family = net.family
    if family not in recipe.families:
        raise ValueError(f"recipe {recipe.name!r} was tuned for {WHY[recipe.families[0]]}; these "
                         f"weights are {WHY[family]}, whose features have another scale: use "
                         f"recipe={DEFAULTS[family]!r} (or 'paper'; on the command line, --recipe)")
    if recipe.pixel_scale is not None and float(net.convention["input_scale"]) <= 1:
        raise ValueError(f"recipe {recipe.name!r} feeds its VGG pixels in 0..{recipe.pixel_scale:g}"
                         f"; these weights take pixels in [0, 1]: use recipe='paper' (on the "
                         f"command line, --recipe paper)")
    return recipe


def recipe_layers(recipe, net, content_layers=None, style_layers=None):
    """The content and style layers: those given, else the recipe's, checked to be in `net`.

    Refuses in one line a recipe's layer the weights do not reach (layers
    given explicitly are checked where they are used).
    """
    chosen = []
    for what, given, own in (("content", content_layers, recipe.content_layers),
                             ("style", style_layers, recipe.style_layers)):
        if given is None:
            missing = [n for n in own if n not in net.names]
            if missing:
                raise ValueError(f"recipe {recipe.name!r} reads {what} layer {missing[0]}, but "
                                 f"these weights stop at {net.names[-1]}")
        chosen.append(own if given is None else given)
    return tuple(chosen)


def input_gain(recipe, net):
    """The factor between the weights' pixel scale and the recipe's (neural-style: 256 / 255)."""
    if recipe.pixel_scale is None:
        return 1.0
    return recipe.pixel_scale / float(net.convention["input_scale"])


def gradient_scale(strength, normalise_gradients):
    """The factor a term of weight `strength` puts on its gradient.

    ``strength`` itself; with neural-style's ``-normalize_gradients``, its
    ``ScaleGradients`` divides the incoming gradient (``strength``) by its norm
    plus 1e-8 and multiplies by ``strength^2``.
    """
    if not normalise_gradients:
        return strength
    return strength / (abs(strength) + 1e-8) * strength * strength


def mean_pixel_start(net, shape, gain, seed, dtype):
    """neural-style's start: the network's mean pixel plus N(0, 0.001^2) noise in its units, as RGB in [0, 1]."""
    c = net.convention
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape) * 0.001
    order = slice(None, None, -1) if c["channel_order"] == "BGR" else slice(None)
    mean, std = np.asarray(c["mean"])[order], np.asarray(c["std"])[order]
    return ((mean + std * noise) / (float(c["input_scale"]) * gain)).astype(dtype)
