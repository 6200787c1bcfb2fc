"""Published style networks from TensorFlow, PyTorch and Torch7, read without those frameworks.

Real weights where the project has them (../shared/models/fast-style: four of
lengstrom's networks), against a PyTorch re-implementation of the TensorFlow
code; synthetic files in every format, written here as each source writes
them, against PyTorch re-implementations of each source's network, forward
and backward, in float64; and files that are broken or hostile.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.files.foreign import read_network, sniff
from stylelab.files.images import load_image, save_image
from stylelab.files.model_file import load_model, save_model
from stylelab.johnson.training import Trainer

from . import hostile_files, t7_files
from .reference import check_gradients, from_torch, rel_err, to_torch
from .torch_foreign import ExamplesNet, johnson_network, random_tf_variables, tf_network

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = SHARED / "models" / "fast-style"
NETWORKS = ("wave", "udnie", "la_muse", "rain_princess")
PHOTOS = ("chicago.jpg", "tubingen.jpg", "golden_gate.jpg")


def write_deeplearnjs(folder, variables):
    """A deeplearn.js checkpoint as reiinakano's export writes it: a manifest and raw float32 files."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for i, v in enumerate(variables):
        name = "Variable" if i == 0 else f"Variable_{i}"
        manifest[name] = {"filename": name, "shape": list(v.shape)}
        (folder / name).write_bytes(np.asarray(v, dtype="<f4").tobytes())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def shared_variables(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    order = sorted(manifest, key=lambda n: int(n.split("_")[1]) if "_" in n else 0)
    return [np.fromfile(folder / manifest[n]["filename"], dtype="<f4").reshape(manifest[n]["shape"])
            for n in order]


# -- the real networks ----------------------------------------------------------

@pytest.fixture(scope="module")
def real_photos():
    if not (SHARED / "images").is_dir():
        pytest.skip("../shared/images is absent: the real-weight checks need the shared photos")
    return {p: load_image(SHARED / "images" / p, size=192) for p in PHOTOS}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_real_networks_paint_what_tensorflow_computes(name, real_photos, tmp_path):
    folder = MODELS / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the real networks are shared beside the project, not in it")
    net, meta = read_network(folder)
    assert meta["source_format"] == "deeplearnjs" and net.dtype == np.float32
    variables = [torch.tensor(v) for v in shared_variables(folder)]
    for photo, img in real_photos.items():
        ours = net.apply(img)                    # 192 px on the long side: odd sizes too
        with torch.no_grad():
            ref = tf_network(to_torch(img[None]), variables)
        ref = from_torch(ref)[0][:img.shape[0], :img.shape[1]]
        assert ours.shape == img.shape
        assert rel_err(ours, ref) <= 1e-4, (name, photo)
        # The saved 8-bit picture is within one grey level of TensorFlow's, rounded.
        save_image(tmp_path / "out.png", ours)
        with Image.open(tmp_path / "out.png") as im:
            saved = np.asarray(im, dtype=np.int16)
        expected = np.round(np.clip(ref, 0, 1) * 255).astype(np.int16)
        assert np.abs(saved - expected).max() <= 1, (name, photo)


# -- synthetic files of every format, float64 forward and backward ---------------

def compare_with_torch(net, torch_forward, torch_params, x, rng, name_of):
    """Forward, the input gradient and every parameter's gradient against PyTorch, float64."""
    y, cache = net.forward(x)
    dy = rng.standard_normal(y.shape)
    dx, grads = net.backward(dy, cache)
    xt = to_torch(x, grad=True)
    yt = torch_forward(xt)
    yt.backward(to_torch(dy))
    assert rel_err(y, from_torch(yt)) <= 1e-10
    assert rel_err(dx, from_torch(xt.grad)) <= 1e-10
    refs = {}
    for key, t in torch_params:
        ours = name_of(key)
        if ours is not None:
            g = from_torch(t.grad)
            refs[ours] = refs.get(ours, 0) + g
    check_gradients({k: grads[k] for k in refs}, refs, 1e-10)
    return y


def test_a_deeplearnjs_checkpoint_equals_tensorflows_network(tmp_path, rng):
    variables = random_tf_variables(rng)
    folder = write_deeplearnjs(tmp_path / "net", variables)
    assert sniff(folder) == "deeplearnjs"
    net, meta = read_network(folder, dtype=np.float64)
    assert net.arch == "c9s1-8,d12,d16,R16x2,u12,u8,c9s1-3"
    assert (net.padding, net.norm_eps, net.last_norm, net.upsample) == ("tf", 1e-3, True, "transpose")
    tv = [torch.tensor(v.astype(np.float64), requires_grad=True) for v in variables]
    # Three variables per layer -- filters, the norm's shift, its scale -- in this stage order.
    stages = ["conv1", "down1", "down2", "res1.1", "res1.2", "res2.1", "res2.2", "up1", "up2",
              "conv2"]
    shifts_and_scales = {}
    for i, stage in enumerate(stages):
        name, part = (stage.split(".") + [""])[:2]
        shifts_and_scales[3 * i + 1] = f"{name}.beta{part}"
        shifts_and_scales[3 * i + 2] = f"{name}.gamma{part}"
    for x in (rng.random((2, 20, 24, 3)), rng.random((1, 21, 18, 3))):    # even, and odd sizes
        y = compare_with_torch(net, lambda t: tf_network(t, tv), list(enumerate(tv)), x, rng,
                               shifts_and_scales.get)
        assert y.shape == (x.shape[0], 4 * -(-x.shape[1] // 4), 4 * -(-x.shape[2] // 4), 3)
        for t in tv:
            t.grad = None
    # The filters' gradients: HWIO (a transposed conv's K, K, C_out, C_in) -> stylelab's layouts.
    x = rng.random((1, 16, 16, 3))
    y, cache = net.forward(x)
    dy = rng.standard_normal(y.shape)
    _, grads = net.backward(dy, cache)
    tf_network(to_torch(x), tv).backward(to_torch(dy))
    for i, stage in enumerate(stages):
        name, part = (stage.split(".") + [""])[:2]
        assert rel_err(grads[f"{name}.w{part}"], tv[3 * i].grad.numpy().transpose(3, 0, 1, 2)) \
            <= 1e-10, stage


def test_a_pytorch_examples_checkpoint_equals_its_transformer_net(tmp_path, rng):
    torch.manual_seed(3)
    ref = ExamplesNet(widths=(8, 12, 16), blocks=2).double()
    state = ref.state_dict()
    # Old checkpoints carry InstanceNorm2d's running statistics: they must be ignored.
    state["in1.running_mean"] = torch.zeros(8)
    state["res1.in2.running_var"] = torch.ones(16)
    torch.save(state, tmp_path / "candy.pth")
    assert sniff(tmp_path / "candy.pth") == "pytorch"
    net, meta = read_network(tmp_path / "candy.pth", dtype=np.float64)
    assert net.arch == "c9s1-8,d12,d16,R16x2,u12,u8,c9s1-3" and net.output == "linear"
    key_to_ours = {"conv1.conv2d": "conv1", "conv2.conv2d": "down1", "conv3.conv2d": "down2",
                   "deconv1.conv2d": "up1", "deconv2.conv2d": "up2", "deconv3.conv2d": "conv2",
                   "in1": "conv1", "in2": "down1", "in3": "down2", "in4": "up1", "in5": "up2"}

    def name_of(key):
        *module, field = key.split(".")
        module = ".".join(module)
        if module.startswith("res"):
            block, part = module.split(".")[:2]
            kind = {"conv": {"weight": "w", "bias": "b"}, "in": {"weight": "gamma", "bias": "beta"}}
            return f"{block}.{kind[part[:-1]][field]}{part[-1]}"
        base = key_to_ours[module]
        return f"{base}.{ {'weight': 'gamma' if module.startswith('in') else 'w', 'bias': 'beta' if module.startswith('in') else 'b'}[field]}"
    for x in (rng.random((2, 20, 24, 3)), rng.random((1, 19, 22, 3))):
        ref.zero_grad()
        y = compare_with_torch(net, ref, [(k, p) for k, p in ref.named_parameters()
                                          if p.ndim == 1], x, rng, name_of)
    ref.zero_grad()
    x = rng.random((1, 16, 16, 3))
    y, cache = net.forward(x)
    dy = rng.standard_normal(y.shape)
    _, grads = net.backward(dy, cache)
    ref(to_torch(x)).backward(to_torch(dy))
    for key, p in ref.named_parameters():
        if p.ndim == 4:
            assert rel_err(grads[name_of(key)], from_torch(p.grad)) <= 1e-10, key


@pytest.mark.parametrize("kind", ["instance", "batch"])
@pytest.mark.parametrize("preprocessing", ["vgg", "resnet"])
def test_a_torch7_checkpoint_equals_johnsons_network(tmp_path, rng, kind, preprocessing):
    checkpoint = t7_files.johnson_checkpoint(rng, kind, preprocessing, dtype=np.float64)
    t7_files.write_t7(tmp_path / "candy.t7", checkpoint)
    assert sniff(tmp_path / "candy.t7") == "torch7"
    net, meta = read_network(tmp_path / "candy.t7", dtype=np.float64)
    assert net.arch == "c9s1-8,d12,d16,R16,R16,u12,u8,c9s1-3"
    assert (net.residual, net.input_pad, net.norm) == ("valid", 16, "instance" if kind == "instance" else "affine")
    assert meta["preprocessing"] == preprocessing
    model = checkpoint["model"]
    for size in ((24, 28), (22, 27)):                    # multiples of 4, and not
        x = rng.random((2, *size, 3))
        y, cache = net.forward(x)
        dy = rng.standard_normal(y.shape)
        dx, grads = net.backward(dy, cache)
        xt = to_torch(x, grad=True)
        yt, params = johnson_network(xt, model, preprocessing=preprocessing)
        yt.backward(to_torch(dy))
        assert rel_err(y, from_torch(yt)) <= 1e-10, size
        assert rel_err(dx, from_torch(xt.grad)) <= 1e-10, size
    # Parameter gradients: conv filters, checked layer by layer in the module order.
    convs = [t for m, key, t in params if key == "weight" and m.class_name.endswith("Convolution")]
    ours = [k for k in net.params if ".w" in k]
    assert len(convs) == len(ours)
    for name, t in zip(ours, convs):
        assert rel_err(grads[name], from_torch(t.grad)) <= 1e-10, name


def test_every_variant_trains_saves_and_resumes(tmp_path, rng):
    """The options are the network's: a training step, a model file and its reload for each source."""
    t7_files.write_t7(tmp_path / "j.t7", t7_files.johnson_checkpoint(rng, "batch"))
    write_deeplearnjs(tmp_path / "tf", random_tf_variables(rng))
    torch.save(ExamplesNet(widths=(8, 12, 16), blocks=1).state_dict(), tmp_path / "p.pth")

    class Loss:
        layers, terms = (), {}

        def content_targets(self, photos):
            return {"pixels": photos}

        def __call__(self, y, targets):
            d = y - targets["pixels"][:, :y.shape[1], :y.shape[2]]
            return float((d * d).sum()), 2 * d

    class Data:
        unreadable = set()

        def batch(self, cursor, n):
            return rng.random((n, 48, 48, 3)).astype(np.float32), cursor + n

    for src in ("j.t7", "tf", "p.pth"):
        net, meta = read_network(tmp_path / src)
        trainer = Trainer(net, Loss(), Data(), batch_size=1, lr=1e-4)
        before = {k: v.copy() for k, v in net.params.items()}
        trainer.train_step()
        assert any(not np.array_equal(before[k], net.params[k]) for k in before), src
        # A checkpoint of the variant resumes into a fresh trainer, step for step the same.
        trainer.save(tmp_path / "ck.h5", meta)
        resumed = Trainer(read_network(tmp_path / src)[0], Loss(), Data(), batch_size=1, lr=1e-4)
        resumed.restore(tmp_path / "ck.h5")
        rng_state = rng.bit_generator.state
        trainer.train_step()
        rng.bit_generator.state = rng_state
        resumed.train_step()
        assert all(np.array_equal(trainer.net.params[k], resumed.net.params[k])
                   for k in net.params), src
        save_model(tmp_path / "m.h5", net, meta)
        again, meta2 = load_model(tmp_path / "m.h5")
        assert again.spec == net.spec and meta2["source_format"] == meta["source_format"]
        x = rng.random((44, 48, 3)).astype(np.float32)
        assert np.array_equal(again.apply(x), net.apply(x)), src


# -- broken and hostile files ----------------------------------------------------

def bad_folder(tmp_path, rng, change):
    folder = write_deeplearnjs(tmp_path / "bad", random_tf_variables(rng))
    manifest = json.loads((folder / "manifest.json").read_text())
    change(folder, manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


DEEPLEARNJS_CASES = {
    "missing file": (lambda f, m: (f / "Variable_3").unlink(), "the file variable 'Variable_3' names is missing"),
    "size mismatch": (lambda f, m: (f / "Variable_4").write_bytes(b"\0" * 12), "12 bytes, but variable"),
    "a path, not a file name": (lambda f, m: m["Variable_2"].update(filename="../../etc/passwd"),
                                "is not a plain file name"),
    "a link out of the folder": (lambda f, m: ((f / "Variable_2").unlink(), os.symlink("/etc/hostname", f / "Variable_2")),
                                 "links outside the checkpoint's folder"),
    "NaN": (lambda f, m: (f / "Variable").write_bytes(np.full(m["Variable"]["shape"], np.nan, "<f4").tobytes()),
            "holds NaN or infinite values"),
    "a variable short": (lambda f, m: m.pop("Variable_29"), "29 variables do not form lengstrom's network"),
    "a gap": (lambda f, m: m.pop("Variable_5"), "do not run from Variable to Variable_28 without gaps"),
    "shapes of another network": (lambda f, m: m["Variable_3"].update(shape=[3, 3, 8, 13]),
                                  "bytes, but variable"),
    "not a TF name": (lambda f, m: m.update(weights={"filename": "Variable", "shape": [1]}),
                      "is not a TensorFlow variable name"),
}


@pytest.mark.parametrize("case", DEEPLEARNJS_CASES)
def test_broken_deeplearnjs_folders_are_one_line_errors(tmp_path, rng, case):
    change, message = DEEPLEARNJS_CASES[case]
    folder = bad_folder(tmp_path, rng, change)
    with pytest.raises(ValueError, match=message) as info:
        read_network(folder)
    assert "\n" not in str(info.value) and "bad" in str(info.value)


def test_a_manifest_that_is_not_json(tmp_path, rng):
    folder = write_deeplearnjs(tmp_path / "bad", random_tf_variables(rng))
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_network(folder)


def t7_case(tmp_path, rng, change):
    checkpoint = t7_files.johnson_checkpoint(rng)
    change(checkpoint)
    t7_files.write_t7(tmp_path / "bad.t7", checkpoint)
    return tmp_path / "bad.t7"


def _mods(c):
    return c["model"].fields["modules"]


T7_CASES = {
    "a Lua function": (lambda c: c["opt"].update(hook=t7_files.Function()), "Lua function, which is code"),
    "an unknown class": (lambda c: _mods(c).insert(1, t7_files.Module("image.Loader")),
                         "holds a image.Loader object"),
    "a module no network has": (lambda c: _mods(c).insert(2, t7_files.Module("nn.Dropout", p=0.5)),
                                "module 3 is nn.Dropout"),
    "NaN weights": (lambda c: _mods(c)[1].fields.update(weight=np.full((8, 3, 9, 9), np.nan, np.float32)),
                    "holds NaN or infinite values"),
    "a weight of the wrong size": (lambda c: _mods(c)[1].fields.update(weight=np.zeros((8, 3, 3, 3), np.float32)),
                                   "has 216 values, its shape needs 1944"),
    "no model": (lambda c: c.pop("model"), "no nn.Sequential model"),
}


@pytest.mark.parametrize("case", T7_CASES)
def test_broken_t7_files_are_one_line_errors(tmp_path, rng, case):
    change, message = T7_CASES[case]
    path = t7_case(tmp_path, rng, change)
    with pytest.raises(ValueError, match=message) as info:
        read_network(path)
    assert "\n" not in str(info.value) and "bad.t7" in str(info.value)


@pytest.mark.parametrize("fmt", ["torch7", "pytorch"])
def test_truncated_files_are_one_line_errors(tmp_path, rng, fmt):
    path = tmp_path / "cut"
    if fmt == "torch7":
        t7_files.write_t7(path, t7_files.johnson_checkpoint(rng))
    else:
        torch.save(ExamplesNet(widths=(8, 12, 16), blocks=1).state_dict(), path)
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError) as info:
            read_network(path, fmt)
        assert "\n" not in str(info.value) and "cut" in str(info.value)


def test_a_t7_declaring_more_than_it_holds_allocates_nothing(tmp_path):
    # A storage of 2**40 floats in a file of a few dozen bytes: refused before any allocation.
    hostile_files.t7_storage_bomb(tmp_path / "bomb.t7")
    with pytest.raises(ValueError, match="declares 1099511627776 values, more than the file holds"):
        read_network(tmp_path / "bomb.t7", "torch7")


def test_a_pytorch_file_of_another_network(tmp_path):
    torch.save({"features.0.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match="'features.0.weight' is not a parameter of pytorch/examples"):
        read_network(tmp_path / "vgg.pth")


def test_unknown_files_and_formats(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a network this reader knows"):
        read_network(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="no such model file or folder"):
        read_network(tmp_path / "missing.t7")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without a manifest.json"):
        read_network(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown format 'caffe'"):
        read_network(tmp_path / "notes.txt", "caffe")
    with pytest.raises(ValueError, match="notes.txt: wire type 4"):     # told it is ONNX
        read_network(tmp_path / "notes.txt", "onnx")


def test_the_network_keeps_its_own_options_and_a_published_one_its_layout(tmp_path):
    # stylelab/nets/transform.py is the paper's network; a published network's conventions are
    # its layout (stylelab/files/layouts.py). A model file records both in one flat dict, as before.
    import h5py

    from stylelab.files.layouts import SOURCES, PublishedLayout, transform_net
    from stylelab.nets.transform import OWN_LAYOUT, OPTIONS, TransformNet
    own = TransformNet("c3s1-4,d8,R8,u4,c3s1-3", seed=0)
    assert own.layout is OWN_LAYOUT and set(own.spec) == {"arch", "in_channels", *OPTIONS}
    assert (own.padding, own.input_pad, own.last_norm) == ("reflect", 0, False)
    save_model(tmp_path / "own.h5", own, {"task": "style"})
    assert load_model(tmp_path / "own.h5")[0].layout is OWN_LAYOUT
    # A file written before the split names every option, stylelab's values included: the same net.
    with h5py.File(tmp_path / "own.h5", "a") as f:
        f.attrs.update(dict(padding="reflect", residual="same", input_pad=0, last_norm=False,
                            output_scale=0.5, output_shift=0.5, channel_order="RGB",
                            input_scale=1.0, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0]))
    again = load_model(tmp_path / "own.h5")[0]
    assert again.layout is OWN_LAYOUT and again.spec == own.spec
    for source, options in SOURCES.items():
        net = transform_net("c3s1-4,d8,R8,u4,c3s1-3", **options)
        assert isinstance(net.layout, PublishedLayout), source
        assert {k: net.spec[k] for k in options} == {
            k: (tuple(v) if isinstance(v, tuple) else v) for k, v in options.items()}, source
        save_model(tmp_path / f"{source}.h5", net, {"task": "style"})
        assert load_model(tmp_path / f"{source}.h5")[0].spec == net.spec, source
    with pytest.raises(TypeError, match=r"padding= is a published network's option.*"
                                        r"stylelab.files.layouts.transform_net"):
        TransformNet("c3s1-4,c3s1-3", padding="tf")
