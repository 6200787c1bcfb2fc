"""Everything that computes, on every device: the CuPy stand-in always, CuPy where a GPU is.

Each test runs one computation -- VGG both engines, the Gatys objective of
each recipe, a whole ``stylize`` with L-BFGS's host transfers, training
steps, super-resolution, the WCT cascade, every command -- once on NumPy and
once on a device, and requires the same numbers back. The stand-in
(``tests/cupy_standin.py``) is NumPy underneath, so anything that differs
was computed differently; anything that fails reached for NumPy where CuPy
would refuse.
"""

import numpy as np
import pytest
from PIL import Image

import stylelab
from stylelab import gatys, layers, optim
from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.files.weights import ENGINES, load_vgg
from stylelab.johnson.perceptual import PerceptualLoss
from stylelab.johnson.superres import degrade
from stylelab.johnson.training import Trainer
from stylelab.johnson.data import ImageFolder
from stylelab.nets.transform import TransformNet
from stylelab.profile import Profile
from stylelab.universal import cascade, wct
from stylelab.universal.adain import adain

from . import cupy_standin, vgg_files
from .conftest import use_backend
from .reference import rel_err
from .test_hostile import _main, decoder, gatys as gatys_cmd, kit, stylize as stylize_cmd
from .test_hostile import train, train_sr, upscale, wct as wct_cmd
from .test_training import write_photos

DEVICES = ["standin", "cupy"]
__all__ = ["kit"]                 # the hostile suite's files serve the commands here too


def host(a):
    return stylelab.to_numpy(a)


def on_device(name):
    """Select the device; return its array module (skips CuPy without a GPU)."""
    return use_backend(name)


def check_device_array(a, xp):
    assert type(a).__module__.split(".")[0] == xp.__name__.split(".")[0], type(a)


# -- the stand-in itself: what it refuses is what CuPy refuses -------------------------------

def test_the_standin_refuses_what_cupy_refuses():
    xp = cupy_standin.install()
    a = xp.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        a + np.ones((2, 3))
    with pytest.raises(TypeError, match="Unsupported type"):
        np.ones((2, 3)) * a
    with pytest.raises(TypeError, match="Unsupported type"):
        xp.matmul(a, np.ones((3, 2)))
    with pytest.raises(TypeError, match="Unsupported type"):
        a[...] = np.zeros((2, 3))
    with pytest.raises(AttributeError, match="has no attribute 'errstate'"):
        xp.errstate                           # NumPy only: CuPy has no errstate
    with pytest.raises(TypeError):
        np.lib.stride_tricks.sliding_window_view(a, 2)   # a NumPy function CuPy lacks
    total = a.sum()
    assert isinstance(total, xp.ndarray) and float(total) == 15.0   # 0-d, not a scalar
    assert np.array_equal(a.get(), np.arange(6.0).reshape(2, 3))    # the explicit bridge
    assert stylelab.get_array_module(a) is xp and isinstance(np.add(a, a), xp.ndarray)


def test_vgg_weights_on_a_device_are_saved_by_explicit_transfer(tmp_path, rng):
    from stylelab.files.vgg_h5 import TORCHVISION, read_vgg_h5, save_vgg_h5
    from stylelab.nets.vgg import random_weights
    xp = cupy_standin.install()
    w = random_weights("vgg16", seed=1, upto="relu1_2")
    save_vgg_h5(tmp_path / "v.h5", "vgg16", {k: (xp.asarray(a), xp.asarray(b))
                                             for k, (a, b) in w.items()}, TORCHVISION, "test")
    _, back, _ = read_vgg_h5(tmp_path / "v.h5")
    np.testing.assert_array_equal(back["conv1_2"][0], w["conv1_2"][0])


def test_layers_refuse_two_devices_in_one_line(rng):
    xp = cupy_standin.install()
    x = xp.asarray(rng.random((1, 5, 5, 3)))
    w = xp.asarray(rng.random((4, 3, 3, 3)))
    with pytest.raises(TypeError, match=r"^conv2d: inputs on two devices \(x is a cupy_standin "
                                        r"array, w is a cupy_standin array, b is a numpy array\)"):
        layers.conv2d_forward(x, w, np.zeros(4))


# -- VGG: both engines, zero and reflection padding ------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", ["fast", "readable"])
@pytest.mark.parametrize("normalised", [False, True], ids=["caffe", "normalised-t7"])
def test_vgg_on_a_device_equals_numpy(device, engine, normalised, rng):
    weights = vgg_files.random_torch_weights("vgg19", seed=2)
    w = {k: (a.transpose(0, 2, 3, 1), b) for k, (a, b) in weights.items()
         if k in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")}
    options = dict(padding="reflect", preprocess=(
        vgg_files.random_colour_map(1)[0].transpose(0, 2, 3, 1), vgg_files.random_colour_map(1)[1])
    ) if normalised else {}
    convention = vgg_files.IDENTITY if normalised else vgg_files.CAFFE
    x = rng.random((2, 16, 12, 3))
    grads = None
    results = []
    for name in ("numpy", device):
        xp = on_device(name)
        net = ENGINES[engine]("vgg19", w, convention, dtype=np.float64, **options)
        feats = net.forward(xp.asarray(x), layers=["relu1_2", "pool2", "relu3_1"])
        if grads is None:
            grads = {n: rng.standard_normal(f.shape) for n, f in feats.items()}
        dx = net.backward({n: xp.asarray(g) for n, g in grads.items()})
        check_device_array(dx, xp)
        results.append(({n: host(f) for n, f in feats.items()}, host(dx)))
    (f0, dx0), (f1, dx1) = results
    for n in f0:
        assert rel_err(f1[n], f0[n]) <= 1e-12, n
    assert rel_err(dx1, dx0) <= 1e-12


# -- Gatys: each recipe's objective, and a whole run through SciPy's L-BFGS -------------------

@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("devices")
    for family in ("caffe", "torchvision"):
        save_random_vgg_h5(d / f"{family}.h5", "vgg19", seed=4, upto="relu5_1", family=family)
    return d


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("recipe,family", [("neural-style", "caffe"), ("tutorial", "torchvision"),
                                           ("paper", "torchvision")])
def test_the_gatys_objective_on_a_device_equals_numpy(device, recipe, family, weight_files, rng):
    photo, painting, x = rng.random((32, 32, 3)), rng.random((24, 40, 3)), rng.random((32, 32, 3))
    out = []
    for name in ("numpy", device):
        xp = on_device(name)
        net = load_vgg(weight_files / f"{family}.h5", dtype=np.float64)
        objective = gatys.GatysObjective(net, xp.asarray(photo), [xp.asarray(painting)],
                                         recipe=recipe, tv_weight=1e-3)
        loss, grad = objective(xp.asarray(x))
        check_device_array(grad, xp)
        out.append((loss, host(grad)))
    assert abs(out[1][0] - out[0][0]) <= 1e-12 * abs(out[0][0])
    assert rel_err(out[1][1], out[0][1]) <= 1e-12


@pytest.mark.parametrize("device", DEVICES)
def test_stylize_on_a_device_equals_numpy(device, weight_files, rng):
    photo, painting = rng.random((32, 32, 3)), rng.random((32, 32, 3))
    images = []
    for name in ("numpy", device):
        xp = on_device(name)
        net = load_vgg(weight_files / "caffe.h5", dtype=np.float64)
        net.profile = Profile()
        result = gatys.stylize(net, xp.asarray(photo), xp.asarray(painting), iterations=3,
                               scales=2, original_colors="luminance")
        check_device_array(result.image, xp)
        # Every crossing to SciPy and back is named in the profile.
        assert net.profile.calls["host transfer (to SciPy)"] == result.evaluations
        images.append(host(result.image))
    # Off NumPy the products run on NumPy's BLAS, not SciPy's: last-bit differences,
    # which L-BFGS's line searches grow over the iterations.
    assert rel_err(images[1], images[0]) <= 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_adam_on_a_device_equals_numpy(device, rng):
    x0, goal = rng.random((4, 5, 3)), rng.random((4, 5, 3))
    outs = []
    for name in ("numpy", device):
        xp = on_device(name)
        target = xp.asarray(goal)

        def fun(x, target=target):
            d = x - target
            return float((d * d).sum()), 2 * d
        res = optim.minimize(fun, xp.asarray(x0), 5, method="adam", lr=0.05)
        outs.append(host(res.x))
    assert rel_err(outs[1], outs[0]) <= 1e-12


# -- Johnson: training steps, super-resolution ------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_training_steps_on_a_device_equal_numpy(device, tmp_path, rng):
    folder = write_photos(tmp_path / "data", rng, count=3, sizes=((24, 28),))
    style = rng.random((1, 20, 20, 3))
    weights = vgg_files.random_torch_weights("vgg16", seed=1)
    w = {k: (a.transpose(0, 2, 3, 1), b) for k, (a, b) in weights.items()
         if k in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                  "conv4_1", "conv4_2", "conv4_3")}
    params = []
    for name in ("numpy", device):
        xp = on_device(name)
        vgg = ENGINES["fast"]("vgg16", w, vgg_files.TORCHVISION, dtype=np.float64)
        loss = PerceptualLoss(vgg, xp.asarray(style), 1.0, 1e4, 1e-3)
        net = TransformNet("c3s1-4,d8,R8x1,u4,c3s1-3", seed=3, dtype=np.float64)
        data = ImageFolder(folder, size=16, seed=2, dtype=np.float64)
        trainer = Trainer(net, loss, data, batch_size=2, lr=1e-2)
        for _ in range(2):
            trainer.train_step()
        state = trainer.state()
        trainer.save(str(tmp_path / f"{name}.h5"), {"task": "style"})
        check_device_array(next(iter(net.params.values())), xp)
        params.append({k: host(v) for k, v in net.params.items()})
        assert state["attrs"]["step"] == 2
    # Adam divides by the gradients' root mean square: last-bit differences of the two
    # BLAS (see the stylize test) show more in small gradients' steps.
    for k in params[0]:
        assert rel_err(params[1][k], params[0][k]) <= 1e-6, k


@pytest.mark.parametrize("device", DEVICES)
def test_degrade_stays_on_its_inputs_device(device, rng):
    photos = rng.random((2, 16, 16, 3)).astype(np.float32)
    xp = on_device(device)
    stylelab.use("numpy")                 # the global backend says NumPy; the data says device
    small = degrade(xp.asarray(photos), 4)
    check_device_array(small, xp)
    np.testing.assert_array_equal(host(small), degrade(photos, 4))


# -- Li et al.: the transforms and the whole cascade --------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_wct_and_the_cascade_on_a_device_equal_numpy(device, weight_files, rng):
    content, style = rng.random((32, 32, 3)), rng.random((32, 32, 3))
    fc, fs = rng.standard_normal((1, 6, 5, 8)), rng.standard_normal((1, 7, 4, 8))
    out = []
    for name in ("numpy", device):
        xp = on_device(name)
        net = load_vgg(weight_files / "torchvision.h5", dtype=np.float64)
        result = cascade.universal_transfer(net, xp.asarray(content), xp.asarray(style),
                                            levels=(2, 1), iterations=3)
        check_device_array(result.image, xp)
        out.append((host(result.image), host(wct.wct(xp.asarray(fc), xp.asarray(fs))),
                    host(adain(xp.asarray(fc), xp.asarray(fs)))))
    for a, b in zip(out[0], out[1]):
        assert rel_err(b, a) <= 1e-9


@pytest.mark.parametrize("device", DEVICES)
def test_adain_on_a_device_equals_numpy(device, rng):
    from stylelab.nets.decoder import make_decoder
    from stylelab.nets.vgg import VGG, random_weights
    from stylelab.universal.adain import adain_transfer
    colour = (rng.standard_normal((3, 1, 1, 3)), rng.standard_normal(3))
    content, styles = rng.random((16, 24, 3)), [rng.random((16, 16, 3)), rng.random((20, 16, 3))]
    mask = (np.arange(24)[None, :] * np.ones((16, 1)) > 11).astype(float)
    out = []
    for name in ("numpy", device):
        xp = on_device(name)
        encoder = VGG("vgg19", random_weights("vgg19", upto="relu4_1"), vgg_files.IDENTITY,
                      dtype=np.float64, padding="reflect", preprocess=colour, family="normalised")
        decoder = make_decoder(4, seed=1, dtype=np.float64)
        r1 = adain_transfer(encoder, decoder, xp.asarray(content), [xp.asarray(s) for s in styles],
                            alpha=0.7, style_weights=[1, 2], preserve_color=True)
        r2 = adain_transfer(encoder, decoder, xp.asarray(content), [xp.asarray(s) for s in styles],
                            mask=mask)
        check_device_array(r1.image, xp)
        out.append((host(r1.image), host(r2.image)))
    for a, b in zip(*out):
        assert rel_err(b, a) <= 1e-10


# -- every command, by STYLELAB_BACKEND -------------------------------------------------------

COMMANDS = {
    "gatys": lambda k, o: gatys_cmd(k, o),
    "train": lambda k, o: train(k, o),
    "train-sr": lambda k, o: train_sr(k, o),
    "train-decoder": lambda k, o: decoder(k, o),
    "wct --invert": lambda k, o: wct_cmd(k, o),
    "wct --decoders": lambda k, o: wct_cmd(k, o, decoders=k / "decoders"),
    "stylize": lambda k, o: stylize_cmd(k, o),
    "upscale": lambda k, o: upscale(k, o),
    "layers": lambda k, o: ["layers", k / "photo.png", "--out", o / "l.png"],
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_runs_on_a_device_as_on_numpy(device, command, kit, tmp_path, monkeypatch):
    outputs = []
    for name in ("numpy", device):
        use_backend(name)                         # registers the stand-in; skips CuPy without a GPU
        monkeypatch.setenv("STYLELAB_BACKEND", name)
        o = tmp_path / name
        o.mkdir()
        assert _main(COMMANDS[command](kit, o)) == 0, command
        made = sorted(p for p in o.rglob("*") if p.suffix == ".png")
        assert made, f"{command} wrote no picture"
        outputs.append([np.asarray(Image.open(p), np.int16) for p in made])
    for a, b in zip(*outputs):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, command
