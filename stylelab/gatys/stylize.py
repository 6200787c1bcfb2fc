"""Gatys et al. 2015 from start to finish: optimise the pixels of an image, optionally coarse to fine.

:func:`stylize` builds a :class:`~stylelab.gatys.objective.GatysObjective`
for each scale and hands it to :func:`stylelab.optim.minimize` (L-BFGS, or
Adam), with the options the well-known implementations offer: several
styles, a style scale, multi-scale runs, keeping the photo's colours.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ..backend import get_array_module
from ..files.images import fit_longest_side, resize_image
from ..optim import minimize
from . import color
from .objective import GatysObjective, layer_weights
from .recipes import get_recipe, input_gain, mean_pixel_start, recipe_layers

INITS = ("noise", "content", "style", "mean")


@dataclass
class StylizeResult:
    """The outcome of :func:`stylize`.

    Attributes
    ----------
    image : ndarray of shape (H, W, 3)
        The best image found (lowest loss at the last scale), RGB in [0, 1].
    history : list of dict
        One row per iteration: ``scale``, ``height``, ``width``,
        ``iteration`` (counted over all scales), ``evaluations``, the
        weighted loss terms ``content``, ``style``, ``tv``, ``total``, and
        ``seconds`` since the start.
    iterations, evaluations : int
        Optimiser iterations and loss evaluations, over all scales.
    interrupted : bool
        Ctrl-C ended the run early; `image` is the best so far.
    """

    image: object
    history: list = field(default_factory=list)
    iterations: int = 0
    evaluations: int = 0
    interrupted: bool = False


def scale_sizes(shape, scales):
    """The (height, width) of each scale, coarse to fine, each half the next."""
    h, w = shape
    return [(max(1, round(h / 2 ** k)), max(1, round(w / 2 ** k)))
            for k in reversed(range(scales))]


def _initial_image(init, content, styles, seed, net, recipe):
    xp = get_array_module(content)
    if isinstance(init, str):
        if init == "noise":
            # White noise, as in the paper; seeded so runs repeat.
            rng = np.random.default_rng(seed)
            return xp.asarray(rng.random(content.shape), dtype=content.dtype)
        if init == "mean":
            # neural-style's start: tiny noise around the network's mean pixel.
            return xp.asarray(mean_pixel_start(net, content.shape, input_gain(recipe, net), seed,
                                               content.dtype))
        if init == "content":
            return content.copy()
        if init == "style":
            return resize_image(styles[0], *content.shape[:2]).copy()
        raise ValueError(f"init must be one of {INITS} or an image, got {init!r}")
    return resize_image(init, *content.shape[:2]).copy()


def stylize(net, content, styles, *, recipe=None, iterations=None, optimizer="lbfgs",
            learning_rate=0.02, init=None, seed=0, scales=1, style_scale=1.0,
            original_colors=None, callback=None, **objective_options):
    """Run Gatys et al.'s optimisation, optionally coarse to fine.

    Parameters
    ----------
    net : stylelab.nets.vgg.VGG
    content : ndarray of shape (H, W, 3)
        The photograph at the output size, RGB in [0, 1], the network's dtype.
    styles : ndarray or list of ndarray, each (H_s, W_s, 3)
        At any size: each is resized to ``style_scale`` times the longest
        side of the image being made, at every scale.
    recipe : {"neural-style", "tutorial", "paper"}, Recipe or None
        Whose objective and defaults (:mod:`stylelab.gatys.recipes`); None:
        the one made for the network's weights.
    iterations : int, optional
        Optimiser iterations at each scale (L-BFGS iterations, each of which
        may evaluate the loss more than once; or Adam steps). Default: the
        recipe's.
    optimizer : {"lbfgs", "adam"}
    learning_rate : float
        Adam's step size (pixels are in [0, 1]).
    init : {"noise", "content", "style", "mean"} or ndarray, optional
        The first scale's starting image (``"mean"``: the network's mean
        pixel plus tiny noise, neural-style's); later scales start from the
        previous result, upsampled. Default: the recipe's.
    seed : int
        Seeds the noise: the same seed gives the same image.
    scales : int
        1 for a single run; ``k`` runs at 1/2^(k-1), ..., 1/2, 1 of the size.
    style_scale : float
    original_colors : {None, "luminance", "histogram"}
        Keep the photograph's colours (see :mod:`stylelab.gatys.color`).
    callback : callable, optional
        ``callback(info)`` after every iteration, with `info` a history row
        plus ``image`` (the current iterate, colours restored if asked) and
        ``scales``; returning True stops the run.
    **objective_options
        Passed to :class:`GatysObjective` (layers, weights, blend, statistic,
        normalise_gradients).

    Returns
    -------
    StylizeResult
    """
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    recipe = get_recipe(recipe, net)
    iterations = recipe.iterations if iterations is None else iterations
    init = recipe.init if init is None else init
    if not styles:
        raise ValueError("at least one style image is needed")
    if scales < 1:
        raise ValueError(f"scales must be at least 1, got {scales}")
    if not style_scale > 0:
        raise ValueError(f"style scale must be positive, got {style_scale}")
    if original_colors not in (None,) + color.COLOR_MODES:
        raise ValueError(f"original colors must be one of {color.COLOR_MODES}, "
                         f"got {original_colors!r}")
    photo = content
    if original_colors == "luminance":
        styles = [color.luminance_image(s, like=content) for s in styles]
        content = color.luminance_image(content)
    elif original_colors == "histogram":
        styles = [color.match_color_histogram(s, content) for s in styles]

    content_layers, style_layers = recipe_layers(recipe, net, objective_options.get("content_layers"),
                                                 objective_options.get("style_layers"))
    layers = [*layer_weights(content_layers, "content"), *layer_weights(style_layers, "style")]
    need = max(net.min_size(n) for n in layers) if layers else 1
    sizes = scale_sizes(content.shape[:2], scales)
    for hw in sizes:
        if min(hw) < need:
            raise ValueError(f"an image of {hw[1]}x{hw[0]} pixels is too small to reach "
                             f"{max(layers, key=net.names.index)} (it needs at least "
                             f"{need}x{need}); use a larger size or fewer scales")

    result = StylizeResult(image=None)
    start = time.perf_counter()
    x = None
    for k, (h, w) in enumerate(sizes, start=1):
        c = resize_image(content, h, w)
        side = round(style_scale * max(h, w))
        s_sized = [resize_image(s, *fit_longest_side(s.shape[:2], side)) for s in styles]
        small = [s.shape[:2] for s in s_sized if min(s.shape[:2]) < need]
        if small:
            raise ValueError(f"the style image becomes {small[0][1]}x{small[0][0]} pixels, "
                             f"too small for the layers asked for (at least {need}x{need}); "
                             f"raise the style scale or the size")
        objective = GatysObjective(net, c, s_sized, recipe=recipe, **objective_options)
        x0 = (_initial_image(init, c, s_sized, seed, net, recipe) if x is None
              else resize_image(x, h, w))
        photo_here = resize_image(photo, h, w) if original_colors == "luminance" else None
        done = (result.iterations, result.evaluations)

        def on_iteration(iteration, evaluations, xi, k=k, objective=objective,
                         photo_here=photo_here, done=done):
            row = {"scale": k, "height": xi.shape[0], "width": xi.shape[1],
                   "iteration": done[0] + iteration, "evaluations": done[1] + evaluations,
                   **{t: float(v) for t, v in objective.terms.items()},
                   "seconds": time.perf_counter() - start}
            result.history.append(row)
            if callback is None:
                return False
            shown = xi if photo_here is None else color.restore_colors(xi, photo_here)
            return callback({**row, "image": shown, "scales": len(sizes)})

        res = minimize(objective, x0, iterations, method=optimizer, lr=learning_rate,
                       callback=on_iteration, profile=net.profile)
        x = res.x
        result.iterations += res.iterations
        result.evaluations += res.evaluations
        if res.interrupted:
            result.interrupted = True
            break
    if original_colors == "luminance":
        x = color.restore_colors(x, photo_here)   # the photo at the last scale run
    result.image = x
    return result
