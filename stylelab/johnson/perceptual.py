"""Johnson et al.'s perceptual losses, through a frozen VGG loss network.

The same measures as Gatys et al. (:mod:`stylelab.gatys.losses`), normalised per
element so that layers, image sizes and batch sizes weigh alike. For a batch
of ``N`` outputs ``y`` with photos ``y_c`` and layer ``j`` of ``C_j``
channels and ``M_j = H_j W_j`` positions::

    feature    l_feat = mean over (N, H, W, C) of (phi_j(y) - phi_j(y_c))^2
    pixel      l_pixel = mean over (N, H, W, 3) of (y - y_c)^2    (the paper's baseline)
    style      l_style = sum_j mean over (N, C, C) of (G_j(y) - G_j(y_s))^2,
               G_j = F^T F / (C_j M_j)                      (Gram per element)
    TV         l_tv = TV(y) / N

(as Johnson's reference code, whose mean-squared-error criteria average over
elements). Each is one of Gatys's losses times a constant, so this module
only rescales them: ``l_feat = 2 L_c / (N C M)`` and, with the target Gram
rescaled to sums over ``M`` positions, ``mean((G_J - A_J)^2) = 4 E / (N C^2)``.
"""

from ..backend import get_array_module
from ..gatys.losses import content_loss, gram, style_loss, tv_loss

CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def feature_loss(f, p):
    """``mean((f - p)^2)``, the feature reconstruction loss, and its gradient.

    Parameters
    ----------
    f, p : ndarray of shape (N, H, W, C)

    Returns
    -------
    value : float
    grad : ndarray like `f`
    """
    value, grad = content_loss(f, p)
    scale = 2.0 / f.size
    grad *= f.dtype.type(scale)
    return value * scale, grad


def gram_per_element(f):
    """``G / (C M)`` for each image: (N, C, C), the Gram matrix per element."""
    _, h, w, c = f.shape
    return gram(f) * f.dtype.type(1.0 / (c * h * w))


def gram_mse_loss(f, target):
    """``mean over (N, C, C) of (G/(CM) - target)^2`` and its gradient.

    Parameters
    ----------
    f : ndarray of shape (N, H, W, C)
    target : ndarray of shape (C, C) or (N, C, C)
        A :func:`gram_per_element` of the style image (any size).

    Returns
    -------
    value : float
    grad : ndarray like `f`
    """
    n, h, w, c = f.shape
    m = h * w
    value, grad = style_loss(f, target * f.dtype.type(c * m))   # E with A = target * C M
    scale = 4.0 / (n * c * c)
    grad *= f.dtype.type(scale)
    return value * scale, grad


class PerceptualLoss:
    """The training objective: feature, style and TV losses through a VGG.

    Parameters
    ----------
    vgg : stylelab.nets.vgg.VGG
        The loss network (VGG-16 in the paper), frozen.
    style : ndarray of shape (1, H, W, 3) or None
        The style image, RGB in [0, 1]; None for the feature loss alone
        (super-resolution).
    content_weight, style_weight, tv_weight : float
    pixel_weight : float
        Weight of the per-pixel loss, the baseline Johnson et al. compare with
        (0 by default). With content and style weights 0, VGG is not run.
    content_layers, style_layers : sequence of str
    """

    def __init__(self, vgg, style=None, content_weight=1.0, style_weight=1e5, tv_weight=0.0,
                 content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS, pixel_weight=0.0):
        self.vgg = vgg
        self.content_layers = tuple(content_layers) if content_weight else ()
        self.style_layers = tuple(style_layers) if style is not None else ()
        self.weights = {"content": float(content_weight), "style": float(style_weight),
                        "tv": float(tv_weight), "pixel": float(pixel_weight)}
        for name, w in self.weights.items():
            if not w >= 0:
                raise ValueError(f"the {name} weight must be >= 0, got {w}")
        self.layers = list(dict.fromkeys(self.content_layers + self.style_layers))
        self.targets = {}
        if style is not None:
            feats = vgg.forward(style, layers=list(self.style_layers))
            self.targets = {n: gram_per_element(feats[n])[0] for n in self.style_layers}
        self.terms = {}

    def content_targets(self, photos):
        """What the outputs must keep of the photos: {layer: features}, and the pixels."""
        targets = {"pixels": photos} if self.weights["pixel"] else {}
        if self.content_layers:
            feats = self.vgg.forward(photos, layers=list(self.content_layers))
            targets.update({n: feats[n].copy() for n in self.content_layers})
        return targets

    def __call__(self, y, targets):
        """The weighted loss of outputs `y` and its gradient.

        Parameters
        ----------
        y : ndarray of shape (N, H, W, 3)
            The network's output, RGB in [0, 1].
        targets : dict
            From :meth:`content_targets` of the matching photos.

        Returns
        -------
        loss : float
        dy : ndarray like `y`
        """
        n = y.shape[0]
        w = self.weights
        xp = get_array_module(y)
        feats = self.vgg.forward(y, layers=self.layers) if self.layers else {}
        grads, terms = {}, {}

        def add(name, g):
            if name in grads:
                grads[name] = grads[name] + g
            else:
                grads[name] = g

        if self.content_layers:
            terms["content"] = 0.0
        for name in self.content_layers:
            value, g = feature_loss(feats[name], targets[name])
            terms["content"] += w["content"] * value
            add(name, g * g.dtype.type(w["content"]))
        if self.style_layers:
            terms["style"] = 0.0
            for name in self.style_layers:
                value, g = gram_mse_loss(feats[name], self.targets[name])
                terms["style"] += w["style"] * value
                add(name, g * g.dtype.type(w["style"]))
        del feats
        dy = self.vgg.backward(grads, release=True) if grads else xp.zeros_like(y)
        if w["pixel"]:
            value, g = feature_loss(y, targets["pixels"])
            terms["pixel"] = w["pixel"] * value
            dy += g * g.dtype.type(w["pixel"])
        if w["tv"]:
            value, g = tv_loss(y)
            terms["tv"] = w["tv"] * value / n
            dy += g * g.dtype.type(w["tv"] / n)
        self.terms = terms
        return sum(terms.values()), xp.ascontiguousarray(dy)
