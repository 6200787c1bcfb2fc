"""The loss Huang & Belongie train their AdaIN decoder with, for :class:`~stylelab.johnson.training.Trainer`.

One step, as pytorch-AdaIN's ``net.py`` and ``train.py`` write it, on a batch
of photos and a batch of paintings (one painting per photo)::

    t      = AdaIN(encoder(photo)[relu4_1], encoder(painting)[relu4_1])     the decoder's input
    g      = decoder(t)
    L_c    = mean((encoder(g)[relu4_1] - t)^2)                              content
    L_s    = sum over relu1_1, relu2_1, relu3_1, relu4_1 of
             mean((mean(phi(g)) - mean(phi(painting)))^2) + mean((std(phi(g)) - std(phi(painting)))^2)
    L      = content_weight * L_c + style_weight * L_s                      (1 and 10)

The statistics are per image and channel over the positions: ``mean``, and
``std = sqrt(var + eps)`` with the unbiased variance (pytorch-AdaIN's
``calc_mean_std``). Their gradients, for a layer's ``phi`` of ``M`` positions::

    d mean / d phi = 1 / M          d std / d phi = (phi - mean) / ((M - 1) std)

and the encoder carries them back to the decoder's output.
"""

from ..backend import get_array_module

CONTENT_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5


def channel_stats(f, eps=EPS):
    """Per image and channel: the mean and ``sqrt(unbiased variance + eps)`` over the positions.

    Parameters
    ----------
    f : ndarray of shape (N, H, W, C)

    Returns
    -------
    mean, std : ndarrays of shape (N, 1, 1, C)
    """
    mean = f.mean(axis=(1, 2), keepdims=True)
    return mean, get_array_module(f).sqrt(f.var(axis=(1, 2), keepdims=True, ddof=1)
                                          + f.dtype.type(eps))


class AdainLoss:
    """``value, dy = loss(y, targets)`` for a decoder's output `y`, with ``targets`` from :meth:`content_targets`.

    Parameters
    ----------
    vgg : stylelab.nets.vgg.VGG
        The encoder (frozen), reaching relu4_1.
    paintings : object with ``styles_for(photos)``
        Gives the batch of paintings that goes with a batch of photos (the
        training data pairs them, so a resumed run draws the same pairs).
    content_weight, style_weight : float
    """

    def __init__(self, vgg, paintings, content_weight=1.0, style_weight=10.0):
        self.vgg, self.paintings = vgg, paintings
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self.layers = list(STYLE_LAYERS)
        self.terms = {}
        self._last = None

    def content_targets(self, photos):
        """The decoder's input ``t`` and the paintings' statistics, for this batch of photos."""
        styles = self.paintings.styles_for(photos)
        fc = self.vgg.forward(photos, layers=[CONTENT_LAYER])[CONTENT_LAYER].copy()
        feats = self.vgg.forward(styles, layers=self.layers)
        stats = {n: tuple(a.copy() for a in channel_stats(feats[n])) for n in self.layers}
        mean_c, std_c = channel_stats(fc)
        mean_s, std_s = stats[CONTENT_LAYER]
        t = (fc - mean_c) / std_c * std_s + mean_s
        self._last = (photos, t)
        return {"t": t, "stats": stats}

    def decoder_input(self, photos):
        """``t`` for `photos`: the one :meth:`content_targets` just made, else made now."""
        if self._last is not None and self._last[0] is photos:
            return self._last[1]
        return self.content_targets(photos)["t"]

    def __call__(self, y, targets):
        """The loss at the decoder's output `y` (N, S, S, 3) and its gradient there."""
        dt = y.dtype.type
        feats = self.vgg.forward(y, layers=self.layers)
        grads = {}
        phi = feats[CONTENT_LAYER]
        diff = phi - targets["t"]
        content = float((diff * diff).sum()) / diff.size
        grads[CONTENT_LAYER] = diff * dt(2 * self.content_weight / diff.size)
        style = 0.0
        for n in self.layers:
            phi = feats[n]
            mean, std = channel_stats(phi)
            mean_s, std_s = targets["stats"][n]
            dm, ds = mean - mean_s, std - std_s
            count = mean.size                            # N * C: the mean of the squares
            style += float((dm * dm).sum() + (ds * ds).sum()) / count
            m = phi.shape[1] * phi.shape[2]
            scale = dt(2 * self.style_weight / count)
            g = (dm * scale / dt(m)) + (phi - mean) * (ds * scale / (dt(m - 1) * std))
            grads[n] = grads[n] + g if n in grads else g
        self.terms = {"content": self.content_weight * content, "style": self.style_weight * style}
        dy = self.vgg.backward(grads, release=True)
        return self.terms["content"] + self.terms["style"], dy
