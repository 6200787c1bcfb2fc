"""The released universal-style-transfer networks against PyTorch re-implementations of their code.

No released file can be fetched here, so each format is written with random
weights, laid out as the release lays it out: Li et al.'s Torch7 encoders
and decoders (``vgg_normalised_conv{L}_1.t7``, ``feature_invertor_conv{L}_1.t7``),
AdaIN's ``vgg_normalised.t7`` + ``decoder.t7`` and pytorch-AdaIN's ``.pth`` pair.
The references follow the released code: pytorch-AdaIN's ``calc_mean_std``,
``adaptive_instance_normalization``, ``coral`` and ``style_transfer``;
PytorchWCT's ``whiten_and_color`` (SVD, absolute threshold, the identity added
to the content covariance) and Li et al.'s (no identity), each level's
decoder output handed on unclipped.
"""

import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylelab.files.released import read_decoder
from stylelab.files.weights import load_vgg
from stylelab.nets.decoder import decoder_arch, make_decoder
from stylelab.nets.vgg import layer_names
from stylelab.universal import cascade
from stylelab.universal.adain import adain_transfer, coral

from . import t7_files, vgg_files
from .reference import from_torch, rel_err, to_torch
from .torch_universal import torch_whiten_and_color

M = t7_files.Module


def random_decoder_convs(level, seed):
    """[(w (F, C, 3, 3), b)] of the relu{level}_1 decoder, in PyTorch's layout, float32."""
    rng = np.random.default_rng(seed)
    fresh = make_decoder(level)
    out = []
    for key in [k for k in fresh.params if k.endswith(".w")]:
        f, k, _, c = fresh.params[key].shape
        out.append(((rng.standard_normal((f, c, k, k)) * np.sqrt(2 / (9 * c))).astype(np.float32),
                    (0.1 * rng.standard_normal(f)).astype(np.float32)))
    return out


def decoder_t7_modules(level, convs):
    """Li et al.'s ``feature_invertor_conv{L}_1.t7`` modules (AdaIN's decoder.t7 is level 4's)."""
    mods = []
    for i, (token, (w, b)) in enumerate(zip(decoder_arch(level).split(","), convs)):
        if token.startswith("u"):
            mods.append(M("nn.SpatialUpSamplingNearest", scale_factor=2))
        mods += [M("nn.SpatialReflectionPadding", pad_l=1, pad_r=1, pad_t=1, pad_b=1),
                 M("nn.SpatialConvolution", nInputPlane=w.shape[1], nOutputPlane=w.shape[0],
                   kW=3, kH=3, dW=1, dH=1, padW=0, padH=0, weight=w, bias=b)]
        if i < len(convs) - 1:
            mods.append(M("nn.ReLU", inplace=True))
    return mods


def write_decoder_t7(path, level, convs):
    t7_files.write_t7(path, M("nn.Sequential", modules=decoder_t7_modules(level, convs)))


def write_sequential_pth(path, convs, index_of):
    """An nn.Sequential state dict: ``"<index>.weight"`` for each conv at its module index."""
    state = OrderedDict()
    for i, (w, b) in zip(index_of, convs):
        state[f"{i}.weight"], state[f"{i}.bias"] = torch.from_numpy(w), torch.from_numpy(b)
    torch.save(state, path)


def decoder_pth_indices(level):
    """Each conv's index in pytorch-AdaIN's decoder Sequential (pad, conv, ReLU, [Upsample])."""
    out, i = [], 0
    tokens = decoder_arch(level).split(",")
    for n, token in enumerate(tokens):
        if token.startswith("u"):
            i += 1                                            # nn.Upsample
        out.append(i + 1)                                     # after ReflectionPad2d
        i += 2 + (n < len(tokens) - 1)                        # pad, conv, ReLU
    return out


def torch_decoder(level, convs, x, dtype=torch.float64):
    """The released decoder in PyTorch on (1, C, h, w): reflection-padded convs, nearest x2."""
    tokens = decoder_arch(level).split(",")
    for n, (token, (w, b)) in enumerate(zip(tokens, convs)):
        if token.startswith("u"):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        w, b = (t if isinstance(t, torch.Tensor) else torch.from_numpy(np.asarray(t))
                for t in (w, b))                # arrays, or tensors being trained
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w.to(x.device, dtype),
                     b.to(x.device, dtype))
        if n < len(tokens) - 1:
            x = torch.relu(x)
    return x


def encoder_torch(weights, colour_map):
    """The normalised VGG-19 (reflection padding, the 1x1 colour conv) in PyTorch, to any layer."""
    w64 = vgg_files.as_float64(weights)
    pre = (colour_map[0].astype(np.float64), colour_map[1].astype(np.float64))
    return lambda x, layer: vgg_files.torch_vgg("vgg19", w64, vgg_files.IDENTITY, x, upto=layer,
                                                padding="reflect", preprocess=pre)[layer]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Random-weight files laid out as Li et al.'s and AdaIN's releases."""
    d = tmp_path_factory.mktemp("release")
    weights = vgg_files.random_torch_weights("vgg19", seed=9)
    colour = vgg_files.random_colour_map(3)
    colour = (colour[0] / 100, colour[1] / 100)     # keep random features in a tame range
    decoders = {v: random_decoder_convs(v, seed=v) for v in (1, 2, 3, 4)}
    (d / "wct").mkdir()
    (d / "adain").mkdir()
    (d / "adain-pth").mkdir()
    for v in (1, 2, 3, 4):
        vgg_files.write_normalised_t7(d / "wct" / f"vgg_normalised_conv{v}_1.t7", weights, colour,
                                      upto=f"relu{v}_1")
        write_decoder_t7(d / "wct" / f"feature_invertor_conv{v}_1.t7", v, decoders[v])
    vgg_files.write_normalised_t7(d / "adain" / "vgg_normalised.t7", weights, colour)
    write_decoder_t7(d / "adain" / "decoder.t7", 4, decoders[4])
    # pytorch-AdaIN: vgg = Sequential(Conv 1x1, then (ReflectionPad2d, Conv, ReLU) x n with
    # MaxPool2d where VGG pools), decoder = Sequential(ReflectionPad2d, Conv, ReLU, Upsample...).
    index, at = [0], 1
    for name in layer_names("vgg19"):
        if name.startswith("conv"):
            index.append(at + 1)
            at += 2
        else:
            at += 1
    convs = [colour] + [weights[n] for n in weights]
    write_sequential_pth(d / "adain-pth" / "vgg_normalised.pth", convs, index)
    write_sequential_pth(d / "adain-pth" / "decoder.pth", decoders[4], decoder_pth_indices(4))
    return d, weights, colour, decoders


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_a_released_t7_decoder_equals_pytorch_forward_and_backward(release, level, rng):
    d, _, _, decoders = release
    found, net = read_decoder(d / "wct" / f"feature_invertor_conv{level}_1.t7", np.float64)
    assert found == level
    x = rng.standard_normal((1, 3, 5, [64, 128, 256, 512][level - 1]))
    y, cache = net.forward(x)
    dy = rng.standard_normal(y.shape)
    dx, grads = net.backward(dy, cache)
    xt = to_torch(x, grad=True)
    ref = torch_decoder(level, decoders[level], xt)
    (ref * to_torch(dy)).sum().backward()
    assert rel_err(y, from_torch(ref)) <= 1e-10
    assert rel_err(dx, from_torch(xt.grad)) <= 1e-10


def test_pytorch_adains_pth_files_read_as_the_t7_ones(release, rng):
    d, *_ = release
    _, from_t7 = read_decoder(d / "adain" / "decoder.t7", np.float64)
    level, from_pth = read_decoder(d / "adain-pth" / "decoder.pth", np.float64)
    assert level == 4
    x = rng.standard_normal((2, 2, 512))
    assert rel_err(from_pth.apply(x), from_t7.apply(x)) == 0
    enc_t7 = load_vgg(d / "adain" / "vgg_normalised.t7", dtype=np.float64)
    enc_pth = load_vgg(d / "adain-pth" / "vgg_normalised.pth", dtype=np.float64)
    img = rng.random((1, 16, 16, 3))
    a = enc_t7.forward(img, layers=["relu4_1"])["relu4_1"]
    b = enc_pth.forward(img, layers=["relu4_1"])["relu4_1"]
    assert enc_pth.family == "normalised" and enc_pth.padding == "reflect"
    assert rel_err(b, a) == 0


# -- AdaIN, as pytorch-AdaIN's test.py runs it ------------------------------------------------

def calc_mean_std(feat, eps=1e-5):
    n, c = feat.shape[:2]
    var = feat.view(n, c, -1).var(dim=2) + eps
    return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def torch_adain(content_feat, style_feat):
    s_mean, s_std = calc_mean_std(style_feat)
    c_mean, c_std = calc_mean_std(content_feat)
    return (content_feat - c_mean) / c_std * s_std + s_mean


def torch_coral(source, target):
    """pytorch-AdaIN's coral on (3, H, W) tensors."""
    def flat_mean_std(x):
        f = x.view(3, -1)
        return f, f.mean(dim=-1, keepdim=True), f.std(dim=-1, keepdim=True)

    def mat_sqrt(x):
        u, d, v = torch.svd(x)
        return u @ torch.diag(d.pow(0.5)) @ v.t()
    sf, sm, ss = flat_mean_std(source)
    sn = (sf - sm) / ss
    tf, tm, ts = flat_mean_std(target)
    tn = (tf - tm) / ts
    eye = torch.eye(3, dtype=source.dtype)
    transfer = mat_sqrt(tn @ tn.t() + eye) @ torch.inverse(mat_sqrt(sn @ sn.t() + eye)) @ sn
    return (transfer * ts + tm).view(source.shape)


def torch_style_transfer(encode, decoder_convs, content, styles, alpha, weights=None):
    content_f = encode(content, "relu4_1")
    style_f = torch.cat([encode(s, "relu4_1") for s in styles])
    if weights:
        base = torch_adain(content_f.expand_as(style_f), style_f)
        feat = sum(w * base[i:i + 1] for i, w in enumerate(weights))
    else:
        feat = torch_adain(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return torch_decoder(4, decoder_convs, feat).clamp(0, 1)


@pytest.mark.parametrize("case", ["one style", "interpolated, alpha", "preserve colour"])
def test_the_adain_pipeline_equals_pytorch_adain(release, case, rng):
    d, weights, colour, decoders = release
    encoder = load_vgg(d / "adain" / "vgg_normalised.t7", dtype=np.float64)
    _, decoder = read_decoder(d / "adain" / "decoder.t7", np.float64)
    content = rng.random((24, 16, 3))
    # pytorch-AdaIN interpolates styles cropped to the content's size (it expands the
    # content's features over the styles' batch)
    styles = [rng.random((24, 16, 3)), rng.random((24, 16, 3))]
    kw = {"one style": dict(styles=styles[:1]),
          "interpolated, alpha": dict(styles=styles, alpha=0.7, style_weights=[3.0, 1.0]),
          "preserve colour": dict(styles=styles[:1], preserve_color=True)}[case]
    result = adain_transfer(encoder, decoder, content, **kw)

    def t(img):
        return to_torch(img[None])
    st = kw["styles"]
    if kw.get("preserve_color"):
        st = [from_torch(torch_coral(t(s)[0], t(content)[0])).transpose(1, 2, 0) for s in st]
        np.testing.assert_allclose(coral(kw["styles"][0], content), st[0], rtol=0, atol=1e-12)
    weights_ = kw.get("style_weights")
    weights_ = [w / sum(weights_) for w in weights_] if weights_ else None
    with torch.no_grad():
        ref = torch_style_transfer(encoder_torch(weights, colour), decoders[4], t(content),
                                   [t(s) for s in st], kw.get("alpha", 1.0), weights_)
    assert rel_err(result.image, from_torch(ref)[0]) <= 1e-8


# -- WCT with Li et al.'s released networks, as the official code and PytorchWCT run them -------

@pytest.mark.parametrize("convention,ridge", [("official", 0.0), ("pytorch-wct", 1.0)])
def test_the_wct_cascade_with_the_released_networks_equals_the_released_code(
        release, convention, ridge, rng):
    d, weights, colour, decoders = release
    encoder = load_vgg(d / "wct" / "vgg_normalised_conv2_1.t7", dtype=np.float64)
    nets = {v: read_decoder(d / "wct" / f"feature_invertor_conv{v}_1.t7", np.float64)[1]
            for v in (2, 1)}
    content, style = rng.random((16, 16, 3)), rng.random((20, 12, 3))
    result = cascade.universal_transfer(encoder, content, style, decoders=nets, levels=(2, 1),
                                        alpha=0.6, convention=convention)
    encode = encoder_torch(weights, colour)
    with torch.no_grad():
        x = to_torch(content[None])
        s = to_torch(style[None])
        for v in (2, 1):                    # each level's output handed on as it is
            layer = f"relu{v}_1"
            x = torch_decoder(v, decoders[v], torch_whiten_and_color(
                encode(x, layer), encode(s, layer), 0.6, ridge))
    assert rel_err(result.image, from_torch(x.clamp(0, 1))[0]) <= 1e-8


# -- the commands, on folders laid out as released ----------------------------------------------

def run(*args):
    return subprocess.run([sys.executable, "-m", "stylelab", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    d = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(4)
    for name, shape in (("photo.png", (24, 30, 3)), ("a.png", (20, 20, 3)), ("b.png", (18, 22, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / name)
    Image.fromarray((np.arange(30)[None, :] * 8 * np.ones((24, 1))).astype(np.uint8)).save(
        d / "mask.png")
    return d


@pytest.mark.parametrize("folder", ["adain", "adain-pth"])
def test_stylelab_adain_runs_on_the_released_folder(release, pictures, folder, tmp_path):
    d, *_ = release
    p = pictures
    res = run("adain", "--models", d / folder, "--content", p / "photo.png", "--style", p / "a.png",
              p / "b.png", "--style-weights", 1, 2, "--alpha", 0.8, "--preserve-color",
              "--size", 30, "--out", tmp_path / "out.png", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "AdaIN at relu4_1 (alpha 0.8" in res.stdout
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (24, 24)                      # 30 x 24 rounded down to multiples of 8
    res = run("adain", "--models", d / folder, "--content", p / "photo.png", "--style", p / "a.png",
              p / "b.png", "--mask", p / "mask.png", "--size", 30, "--out", tmp_path / "m.png",
              "--quiet")
    assert res.returncode == 0, res.stderr


def test_stylelab_wct_runs_on_li_et_als_released_folder(release, pictures, tmp_path):
    d, *_ = release
    p = pictures
    res = run("wct", "--decoders", d / "wct", "--levels", "2,1", "--content", p / "photo.png",
              "--style", p / "a.png", "--size", 24, "--out", tmp_path / "w.png", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "official's transform" in res.stdout


@pytest.mark.parametrize("case,pattern", [
    ("a missing level", "the folder lacks level 4"),
    ("a decoder of another level", "decodes relu1_1, not relu2_1 as its name says"),
    ("an encoder of another family", "the released decoders invert the normalised VGG-19"),
    ("alpha above 1", "--alpha must be between 0 and 1"),
    ("style weights of the wrong count", "1 --style-weights for 2 style images"),
    ("no networks", "AdaIN needs its networks"),
    ("a malformed decoder", "is a ReLU that follows no conv|ReLU after every conv"),
])
def test_bad_released_input_is_one_line(release, pictures, case, pattern, tmp_path):
    import re
    import shutil
    d, *_ = release
    p = pictures
    folder = tmp_path / "f"
    out = tmp_path / "o.png"
    if case in ("a missing level", "a decoder of another level"):
        shutil.copytree(d / "wct", folder)
        if case == "a decoder of another level":
            shutil.copy(folder / "feature_invertor_conv1_1.t7", folder / "feature_invertor_conv2_1.t7")
            args = ["wct", "--decoders", folder, "--levels", "2,1"]
        else:
            args = ["wct", "--decoders", folder, "--levels", "4,1"]
            os.unlink(folder / "feature_invertor_conv4_1.t7")
        args += ["--content", p / "photo.png", "--style", p / "a.png", "--size", 24]
    elif case == "an encoder of another family":
        from stylelab.files.vgg_h5 import save_random_vgg_h5
        save_random_vgg_h5(tmp_path / "caffe.h5", "vgg19", upto="relu4_1", family="caffe")
        args = ["adain", "--encoder", tmp_path / "caffe.h5", "--decoder",
                d / "adain" / "decoder.t7", "--content", p / "photo.png", "--style", p / "a.png"]
    elif case == "a malformed decoder":
        mods = decoder_t7_modules(1, random_decoder_convs(1, 0))
        t7_files.write_t7(tmp_path / "bad.t7", M("nn.Sequential", modules=[M("nn.ReLU")] + mods))
        args = ["adain", "--encoder", d / "adain" / "vgg_normalised.t7", "--decoder",
                tmp_path / "bad.t7", "--content", p / "photo.png", "--style", p / "a.png"]
    else:
        extra = {"alpha above 1": ["--alpha", 1.5],
                 "style weights of the wrong count": ["--style-weights", 1],
                 "no networks": []}[case]
        models = [] if case == "no networks" else ["--models", d / "adain"]
        args = ["adain", *models, "--content", p / "photo.png", "--style", p / "a.png",
                p / "b.png", *extra]
    res = run(*args, "--out", out, "--quiet")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert re.search(pattern, res.stderr), res.stderr
    assert not out.exists()


def test_models_download_fetches_a_release_checks_it_and_adain_runs_it_by_name(
        release, pictures, tmp_path, monkeypatch):
    from .local_server import serve
    d, *_ = release
    files = {n: (d / "adain" / n).read_bytes() for n in ("vgg_normalised.t7", "decoder.t7")}
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with serve(files) as base:
        res = subprocess.run([sys.executable, "-m", "stylelab", "models", "download", "adain",
                              "--url", base, "--quiet"], capture_output=True, text=True,
                             env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    assert "every network read and checked" in res.stdout
    folder = tmp_path / "cache" / "stylelab" / "models" / "adain"
    assert sorted(os.listdir(folder)) == ["decoder.t7", "vgg_normalised.t7"]
    res = subprocess.run([sys.executable, "-m", "stylelab", "adain", "--models", "adain",
                          "--content", str(pictures / "photo.png"), "--style",
                          str(pictures / "a.png"), "--size", "24", "--out",
                          str(tmp_path / "o.png"), "--quiet"], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    # A damaged file is refused and nothing is kept.
    bad = dict(files, **{"decoder.t7": files["decoder.t7"][:3000]})
    with serve(bad) as base:
        res = subprocess.run([sys.executable, "-m", "stylelab", "models", "download", "adain",
                              "--url", base, "--quiet"], capture_output=True, text=True,
                             env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "c2" / "stylelab" / "models" / "adain").exists()
    assert not [p for p in (tmp_path / "c2" / "stylelab" / "models").iterdir()]


def test_released_decoders_convert_to_models_that_know_their_encoder(release, pictures, tmp_path):
    d, *_ = release
    p = pictures
    out = tmp_path / "decoders"
    out.mkdir()
    assert run("weights", "convert", d / "wct" / "vgg_normalised_conv2_1.t7",
               tmp_path / "enc.h5").returncode == 0
    for v in (2, 1):
        res = run("models", "convert", d / "wct" / f"feature_invertor_conv{v}_1.t7",
                  out / f"relu{v}_1.h5", "--encoder", d / "wct" / "vgg_normalised_conv2_1.t7")
        assert res.returncode == 0, res.stderr
    common = ["--content", p / "photo.png", "--style", p / "a.png", "--size", 24, "--levels", "2,1",
              "--decoders", out, "--quiet", "--convention", "official"]
    res = run("wct", "--weights", tmp_path / "enc.h5", "--out", tmp_path / "w.png", *common)
    assert res.returncode == 0, res.stderr
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    save_random_vgg_h5(tmp_path / "other.h5", "vgg19", upto="relu2_1", family="normalised")
    res = run("wct", "--weights", tmp_path / "other.h5", "--out", tmp_path / "x.png", *common)
    assert res.returncode == 2 and "a decoder only inverts its own encoder" in res.stderr
    res = run("models", "convert", d / "adain" / "decoder.t7", tmp_path / "a.h5", "--encoder",
              d / "adain" / "vgg_normalised.t7", "--for", "adain")
    assert res.returncode == 0, res.stderr
    res = run("adain", "--encoder", d / "adain" / "vgg_normalised.t7", "--decoder", tmp_path / "a.h5",
              "--content", p / "photo.png", "--style", p / "a.png", "--size", 24, "--out",
              tmp_path / "a.png", "--quiet")
    assert res.returncode == 0, res.stderr


def test_li_et_als_release_downloads_from_a_mirror_and_wct_runs_it_by_name(release, pictures,
                                                                            tmp_path):
    from .local_server import serve
    d, weights, colour, _ = release
    files = {p.name: p.read_bytes() for p in (d / "wct").iterdir()}
    vgg_files.write_normalised_t7(tmp_path / "e5.t7", weights, colour, upto="relu5_1")
    write_decoder_t7(tmp_path / "d5.t7", 5, random_decoder_convs(5, seed=5))
    files["vgg_normalised_conv5_1.t7"] = (tmp_path / "e5.t7").read_bytes()
    files["feature_invertor_conv5_1.t7"] = (tmp_path / "d5.t7").read_bytes()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "stylelab", "models", "download", "li-wct"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "no address of its files is known here" in res.stderr
    with serve(files) as base:
        res = subprocess.run([sys.executable, "-m", "stylelab", "models", "download", "li-wct",
                              "--url", base, "--quiet"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([sys.executable, "-m", "stylelab", "wct", "--decoders", "li-wct",
                          "--levels", "2,1", "--content", str(pictures / "photo.png"), "--style",
                          str(pictures / "a.png"), "--size", "24", "--out",
                          str(tmp_path / "w.png"), "--quiet"], capture_output=True, text=True,
                         env=env)
    assert res.returncode == 0, res.stderr
