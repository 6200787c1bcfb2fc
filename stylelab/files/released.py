"""The released universal-style-transfer networks, read as stylelab networks.

Li et al. (2017) published an encoder and a decoder per level,
``vgg_normalised_conv{L}_1.t7`` and ``feature_invertor_conv{L}_1.t7``
(UniversalStyleTransfer; PytorchWCT loads the same files); Huang & Belongie
(2017) one encoder and one decoder for ``relu4_1``, ``vgg_normalised.t7`` and
``decoder.t7`` (AdaIN-style), converted by pytorch-AdaIN to ``vgg_normalised.pth``
and ``decoder.pth`` (``nn.Sequential`` state dicts, keys ``"<index>.weight"``).

The encoders are the normalised VGG-19 with a 1x1 colour conv first and
reflection padding (:mod:`stylelab.files.torch7_vgg`; the ``.pth`` one here).
Every decoder is the encoder read backwards, as
:func:`stylelab.nets.decoder.decoder_arch` writes it::

    SpatialReflectionPadding(1)  SpatialConvolution 3x3  ReLU   ...
    SpatialUpSamplingNearest(2)  where the encoder pools
    SpatialReflectionPadding(1)  SpatialConvolution 3x3 -> 3    (linear: no ReLU)

:func:`read_decoder` walks a Torch7 decoder's modules (or a ``.pth``'s convs,
whose upsamplings a state dict cannot show: they are where the architecture
puts them), finds the level its shapes fit, and returns the
:class:`~stylelab.nets.transform.TransformNet` that computes it. Files are
untrusted data: no code runs, every shape is checked before it is used.
"""

import os
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass

import numpy as np

from ..backend import asarray
from ..nets.decoder import LEVELS, decoder_arch, decoder_param_shapes, make_decoder
from .convert import read_vgg_any
from .atomic import sweep_stale_temps
from .download import fetch, offline_help, writable_folder
from .limits import untrusted_reader
from .published import models_dir
from .pth import load_pth, sequential_convs
from .torch7 import T7_MAGIC, load_t7
from .torch7_models import conv_module, int_field, module_list



def _decoder_from_convs(path, convs, tokens=None, dtype=np.float32):
    """The level whose decoder has these convs' shapes (and `tokens`, if known), and its network."""
    shapes = [tuple(w.shape) for w, _ in convs]
    for level in LEVELS:
        expected = decoder_param_shapes(level)
        keys = [k[:-2] for k in expected if k.endswith(".w")]
        want = [tuple(expected[k + ".w"]) for k in keys]
        if want != shapes or (tokens is not None and tokens != decoder_arch(level).split(",")):
            continue
        params = {}
        for key, (w, b) in zip(keys, convs):
            params[key + ".w"] = asarray(np.ascontiguousarray(w), dtype=dtype)
            params[key + ".b"] = asarray(b, dtype=dtype)
        return level, make_decoder(level, dtype=dtype, params=params)
    first = f"{shapes[0][-1]} -> {shapes[0][0]} channels" if shapes else "no convs"
    raise ValueError(f"{path}: {len(convs)} convs starting {first} form no decoder of "
                     f"relu1_1 ... relu5_1 (the encoder read backwards)")


def _torch7_decoder(path, dtype):
    obj = load_t7(path)
    if getattr(obj, "class_name", None) != "nn.Sequential":
        raise ValueError(f"{path}: expected an nn.Sequential decoder, got "
                         f"{getattr(obj, 'class_name', type(obj).__name__)}")
    convs, tokens, pending_pad, up, relu_after = [], [], False, False, []
    for i, m in enumerate(module_list(obj, path)):
        name = m.class_name
        if name == "nn.SpatialReflectionPadding":
            if [int_field(m, k, path) for k in ("pad_l", "pad_r", "pad_t", "pad_b")] != [1] * 4:
                raise ValueError(f"{path}: module {i + 1} does not pad by 1 on each side")
            pending_pad = True
        elif name == "nn.SpatialUpSamplingNearest":
            if int_field(m, "scale_factor", path) != 2:
                raise ValueError(f"{path}: module {i + 1} upsamples by other than 2")
            up = True
        elif name in ("nn.SpatialConvolution", "nn.SpatialConvolutionMM"):
            w, b, k, stride, pad = conv_module(m, path)
            if not pending_pad or (k, stride, pad) != (3, 1, 0):
                raise ValueError(f"{path}: module {i + 1} is not a reflection-padded 3x3 conv "
                                 f"of stride 1, as the released decoders' are")
            convs.append((w, b))
            tokens.append(f"u{w.shape[0]}" if up else f"c3s1-{w.shape[0]}")
            relu_after.append(False)
            pending_pad = up = False
        elif name == "nn.ReLU":
            if not convs or relu_after[-1]:
                raise ValueError(f"{path}: module {i + 1} is a ReLU that follows no conv")
            relu_after[-1] = True
        else:
            raise ValueError(f"{path}: module {i + 1} is {name}, which a released decoder "
                             f"does not have")
    if not convs or relu_after != [True] * (len(convs) - 1) + [False]:
        raise ValueError(f"{path}: a decoder has a ReLU after every conv but the last")
    return _decoder_from_convs(path, convs, tokens, dtype)


@untrusted_reader("released decoder")
def read_decoder(path, dtype=np.float32):
    """A released decoder (Torch7 ``.t7`` or pytorch-AdaIN ``.pth``): ``(level, TransformNet)``."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head in T7_MAGIC:
        return _torch7_decoder(path, dtype)
    state = load_pth(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    convs = [(w, b) for _, w, b in sequential_convs(state, path)]
    return _decoder_from_convs(path, convs, None, dtype)


# -- the folders, as the releases lay them out --------------------------------------------

WCT_ENCODER = "vgg_normalised_conv{}_1.t7"
WCT_DECODER = "feature_invertor_conv{}_1.t7"
ADAIN_PAIRS = (("vgg_normalised.t7", "decoder.t7"), ("vgg_normalised.pth", "decoder.pth"))


def is_wct_release(folder):
    """Whether `folder` holds Li et al.'s released decoders (``feature_invertor_conv{L}_1.t7``)."""
    return any(os.path.exists(os.path.join(folder, WCT_DECODER.format(v))) for v in LEVELS)


def check_normalised(vgg, where):
    """Refuse an encoder other than the normalised VGG-19 the released decoders were trained on."""
    if vgg.family != "normalised":
        raise ValueError(f"{where}: the released decoders invert the normalised VGG-19 (Li et "
                         f"al.'s and Huang & Belongie's encoders); these weights are "
                         f"{vgg.family}'s VGG, whose features they were not trained on")


def wct_release(folder, levels, dtype=np.float32):
    """Li et al.'s release: the deepest level's encoder file, and ``{level: decoder}``.

    Every level asked for needs its ``feature_invertor_conv{L}_1.t7``; the
    encoder is ``vgg_normalised_conv{L}_1.t7`` of the deepest level (the
    others are its prefixes). Each decoder must decode the level its name says.
    """
    deepest = max(levels)
    encoder = os.path.join(folder, WCT_ENCODER.format(deepest))
    if not os.path.exists(encoder):
        raise ValueError(f"{folder}: no {WCT_ENCODER.format(deepest)}, the encoder of level "
                         f"{deepest} that Li et al. release with its decoder")
    decoders = {}
    for level in levels:
        path = os.path.join(folder, WCT_DECODER.format(level))
        if not os.path.exists(path):
            raise ValueError(f"{folder}: no {WCT_DECODER.format(level)} (the decoder of "
                             f"relu{level}_1); the folder lacks level {level}")
        found, net = read_decoder(path, dtype)
        if found != level:
            raise ValueError(f"{path} decodes relu{found}_1, not relu{level}_1 as its name says")
        decoders[level] = net
    return encoder, decoders


def adain_release(folder):
    """Huang & Belongie's release in `folder`: the paths of its encoder and decoder (.t7 or .pth)."""
    for encoder, decoder in ADAIN_PAIRS:
        e, d = os.path.join(folder, encoder), os.path.join(folder, decoder)
        if os.path.exists(e) and os.path.exists(d):
            return e, d
    raise ValueError(f"{folder}: neither vgg_normalised.t7 + decoder.t7 (AdaIN's release) nor "
                     f"vgg_normalised.pth + decoder.pth (pytorch-AdaIN's)")


# -- where the releases are published, and a download that checks them ------------------------

@dataclass(frozen=True)
class Release:
    """A published set of universal-style-transfer networks: its files, where each is, its use."""

    name: str
    source: str
    files: tuple                # (file name, address)
    licence: str
    command: str


ADAIN_S3 = "https://s3.amazonaws.com/xunhuang-public/adain/"
# The addresses are those of the release's own download script (models/download_models.sh);
# no digest was published with them.
RELEASES = {r.name: r for r in [
    Release("adain", "xunhuang1995/AdaIN-style (Torch7): the normalised VGG-19 and the relu4_1 "
            "decoder of Huang & Belongie 2017",
            (("vgg_normalised.t7", ADAIN_S3 + "vgg_normalised.t7"),
             ("decoder.t7", ADAIN_S3 + "decoder.t7")),
            "as its repository states (xunhuang1995/AdaIN-style)", "stylelab adain --models"),
    # Its files are fetched by the release's own script from addresses this project has not
    # seen: listed without one, downloadable from a mirror (--url) or used where fetched.
    Release("li-wct", "Yijun711/UniversalStyleTransfer (Torch7): the encoders and decoders of "
            "Li et al. 2017, relu1_1 ... relu5_1",
            tuple((name.format(v), None) for v in LEVELS for name in (WCT_ENCODER, WCT_DECODER)),
            "as its repository states (Yijun711/UniversalStyleTransfer)",
            "stylelab wct --decoders"),
]}
MAX_RELEASE_BYTES = 1 << 30     # the full normalised VGG-19 is about 80 MB


def release_dir(name):
    """Where a downloaded release lives, as published: ``<cache>/models/NAME/``."""
    return os.path.join(models_dir(), name)


def release_folder(given):
    """The folder `given` names: itself, or a downloaded release of that name (refused if not downloaded)."""
    if os.path.isdir(given) or given not in RELEASES:
        return given
    folder = release_dir(given)
    if not os.path.isdir(folder):
        raise ValueError(f"{given} is not downloaded yet: run `stylelab models download {given}`")
    return folder


def check_release(folder, name):
    """Read every network of a release folder as the untrusted data it is; refuse what does not fit."""
    if RELEASES[name].command.startswith("stylelab adain"):
        encoder, decoder = adain_release(folder)
        encoders, decoders = [encoder], {4: decoder}
    else:
        encoders = [os.path.join(folder, WCT_ENCODER.format(v)) for v in LEVELS]
        decoders = {v: os.path.join(folder, WCT_DECODER.format(v)) for v in LEVELS}
    for encoder in encoders:
        if read_vgg_any(encoder)["family"] != "normalised":
            raise ValueError(f"{encoder} is not the normalised VGG-19")
    for level, decoder in decoders.items():
        found, _ = read_decoder(decoder)
        if found != level:
            raise ValueError(f"{decoder} decodes relu{found}_1, not relu{level}_1")


def download_release(name, progress=True, base_url=None):
    """Fetch a release's files into ``<cache>/models/NAME/``, each read and checked before it is kept.

    Parameters
    ----------
    name : str
        A key of :data:`RELEASES`.
    base_url : str, optional
        A mirror: each file is fetched from ``base_url/<file name>``.

    Returns
    -------
    folder : str
    digests : dict file name -> SHA-256
    """
    release = RELEASES[name]
    final = release_dir(name)
    writable_folder(os.path.dirname(final))
    sweep_stale_temps(os.path.dirname(final))    # what killed downloads left
    work = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=f".download-{os.getpid()}-")
    try:
        digests = {}
        for filename, url in release.files:
            url = f"{base_url.rstrip('/')}/{filename}" if base_url else url
            if url is None:
                raise ValueError(f"{name}: no address of its files is known here; fetch them with "
                                 f"the release's own script and give the folder to "
                                 f"`{release.command}`, or a mirror with --url")
            try:
                with open(os.path.join(work, filename), "wb") as f:
                    digests[filename] = fetch(url, f, progress, limit=MAX_RELEASE_BYTES)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ValueError(f"could not download {url} ({reason}). " + offline_help(
                    url, filename, f"mkdir -p {final} && cp {filename} {final}/")) from None
        check_release(work, name)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(work, final)               # complete and checked, or not there at all
        return final, digests
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)
