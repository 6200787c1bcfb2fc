"""Arbitrary style transfer in one pass: Huang & Belongie's AdaIN (2017).

The method, as their released code runs it::

    f_c = encoder(content)[relu4_1]          the normalised VGG-19
    f_s = encoder(style)[relu4_1]
    t   = AdaIN(f_c, f_s)                    each channel: the style's mean and std
    t   = alpha * t + (1 - alpha) * f_c      how much style
    out = decoder(t)                          trained to invert the encoder

Several styles are interpolated (``t = sum_k w_k AdaIN(f_c, f_s_k)``, the
weights normalised to sum to 1, as pytorch-AdaIN's ``test.py``); two styles
can instead share the picture by a mask (each region of ``f_c`` normalised
by its own statistics, as AdaIN's ``test.lua`` ``-mask``). Colour
preservation first recolours each style image to the photo's colour mean and
covariance (:func:`coral`, pytorch-AdaIN's ``-preserve_color``).

The transform itself is :func:`adain`: the diagonal of what Li et al.'s
whitening and colouring match (:mod:`stylelab.universal.wct`). Its statistics
follow pytorch-AdaIN's ``calc_mean_std`` in :func:`adain_transfer` by default
(``convention="pytorch-adain"``: unbiased variances, ``eps`` added to both);
:func:`adain` documents the two conventions.
"""

from dataclasses import dataclass

from ..backend import get_array_module
from ..gatys.objective import blend_weights
from ..nets.tiled import apply_tiled, vgg_features_tiled
from .cascade import check_style_options, labels_from_mask, resize_labels
from .wct import EPS, by_region, eig_power, positions

LAYER = "relu4_1"


@dataclass
class AdainResult:
    """The picture (H, W, 3), clipped to [0, 1], and the features it was decoded from."""

    image: object
    features: object


ADAIN_CONVENTIONS = ("stylelab", "pytorch-adain")


def adain(content, style, eps=EPS, convention="stylelab"):
    """Adaptive instance normalisation: each channel gets the style's mean and std.

    The light transform: the style's per-channel statistics only, not their
    correlations (the diagonal of what :func:`stylelab.universal.wct.wct` matches).

    Parameters
    ----------
    content : ndarray of shape (H, W, C) or (1, H, W, C)
    style : ndarray of shape (Hs, Ws, C) or (1, Hs, Ws, C)
    eps : float
        Added to the content's variance (a flat channel gives the style's mean).
    convention : {"stylelab", "pytorch-adain"}
        ``"pytorch-adain"``: as pytorch-AdaIN's ``calc_mean_std`` (the code the
        released PyTorch decoder was trained with), unbiased variances
        (``M - 1``) with `eps` added to the style's too.

    Returns
    -------
    ndarray like `content`
        ``(F - mean_c) / sqrt(var_c + eps) * std_s + mean_s``, variances
        biased (over the M positions), as in Huang & Belongie's paper.
    """
    if convention not in ADAIN_CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(ADAIN_CONVENTIONS)}, "
                         f"got {convention!r}")
    xp = get_array_module(content)
    dt = content.dtype.type
    fc, fs = positions(content), positions(style)
    ddof = 1 if convention == "pytorch-adain" else 0
    mean_c, var_c = fc.mean(axis=0), fc.var(axis=0, ddof=ddof)
    mean_s, var_s = fs.mean(axis=0), fs.var(axis=0, ddof=ddof)
    std_s = xp.sqrt(var_s + dt(eps)) if ddof else xp.sqrt(var_s)
    out = (fc - mean_c) / xp.sqrt(var_c + dt(eps)) * std_s + mean_s
    return out.reshape(content.shape)


def coral(source, target):
    """Recolour `source` to `target`'s colour mean and covariance (pytorch-AdaIN's ``coral``).

    Each image's pixels, per channel, are standardised (mean 0, unbiased std
    1); their 3 x 3 products plus the identity, ``S`` and ``T``, give the map
    ``T^(1/2) S^(-1/2)``, then `target`'s std and mean are put back::

        x_n  = (x - mean_s) / std_s
        out  = (T^(1/2) S^(-1/2) x_n) * std_t + mean_t

    Parameters
    ----------
    source, target : ndarray of shape (H, W, 3) (any two sizes)
        RGB in [0, 1].

    Returns
    -------
    ndarray like `source` (not clipped)
    """
    xp = get_array_module(source)

    def standardised(img):
        px = img.reshape(-1, 3)
        mean, std = px.mean(axis=0), px.std(axis=0, ddof=1)
        norm = (px - mean) / std
        return norm, mean, std, norm.T @ norm + xp.eye(3, dtype=img.dtype)

    s_norm, _, _, s_cov = standardised(source)
    _, t_mean, t_std, t_cov = standardised(target)
    # Both matrices are positive definite (the identity added): every eigenvalue is kept.
    transfer = eig_power(t_cov, 0.5, 0.0) @ eig_power(s_cov, -0.5, 0.0)
    return ((s_norm @ transfer.T) * t_std + t_mean).reshape(source.shape)


def adain_transfer(encoder, decoder, content, styles, alpha=1.0, style_weights=None, mask=None,
                   preserve_color=False, eps=EPS, convention="pytorch-adain", tile=None):
    """Huang & Belongie's AdaIN style transfer: encode, match statistics, decode.

    Parameters
    ----------
    encoder : stylelab.nets.vgg.VGG
        The normalised VGG-19 (reaching ``relu4_1``).
    decoder : stylelab.nets.transform.TransformNet
        The ``relu4_1`` decoder trained with that encoder.
    content : ndarray of shape (H, W, 3)
        RGB in [0, 1], the encoder's dtype; H and W multiples of 8 (three poolings).
    styles : ndarray of shape (Hs, Ws, 3), or a list of them
    alpha : float in [0, 1]
    style_weights : sequence of float, optional
        Interpolation weights, one per style (normalised to sum to 1).
    mask : ndarray of shape (H, W), optional
        Grey values in [0, 1] assigning regions to styles (see
        :func:`stylelab.universal.cascade.labels_from_mask`); not with `style_weights`.
    preserve_color : bool
        Recolour the styles to the content's colours first (:func:`coral`).
    eps : float
    convention : {"pytorch-adain", "stylelab"}
    tile : int, optional
        Run the encoder and the decoder layer by layer over tiles of this
        side (:mod:`stylelab.nets.tiled`): the same picture, in memory that
        follows the tile. The statistics are the whole picture's either way:
        ``relu4_1``, an eighth of the picture a side, is held whole.

    Returns
    -------
    AdainResult
    """
    if not isinstance(styles, (list, tuple)):
        styles = [styles]
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    check_style_options(len(styles), style_weights, mask is not None)
    h, w = content.shape[:2]
    if h % 8 or w % 8:
        raise ValueError(f"AdaIN's decoder gives back 8 times relu4_1's size: the content must "
                         f"have sides that are multiples of 8, got {w}x{h}")
    xp = get_array_module(content)
    if preserve_color:
        styles = [coral(s, content) for s in styles]
    # Each pass computes in the last one's buffers (no fresh memory to fault in); the
    # features are copied out before the next pass overwrites them. No backward follows.
    def encode(img):
        if tile:
            return vgg_features_tiled(encoder, img[None], [LAYER], tile)[LAYER]
        return encoder.forward(img[None], layers=[LAYER], reuse_buffers=True,
                               keep_cache=False)[LAYER].copy()
    fc = encode(content)
    fs = [encode(s) for s in styles]
    dt = content.dtype.type
    if mask is None:
        t = 0
        for wk, f in zip(blend_weights(style_weights, len(styles)), fs):
            t = t + dt(wk) * adain(fc, f, eps, convention)
    else:
        # Each region normalised by its own statistics (AdaIN's test.lua -mask).
        labels = resize_labels(labels_from_mask(mask, len(styles)), *fc.shape[1:3])
        t = by_region(fc, fs, xp.asarray(labels),
                      lambda region, f: adain(region[None, None], f, eps, convention)[0, 0])
    t = dt(alpha) * t + dt(1 - alpha) * fc
    image = apply_tiled(decoder, t[0], tile) if tile else decoder.apply(t[0])
    return AdainResult(xp.clip(image, 0.0, 1.0), t)
