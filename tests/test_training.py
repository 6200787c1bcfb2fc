"""Training a transformation network: one step equals PyTorch's, the loss falls, resume is exact."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.johnson.data import DataError, ImageFolder
from stylelab.files.model_file import load_model
from stylelab.johnson.perceptual import CONTENT_LAYERS, STYLE_LAYERS, PerceptualLoss
from stylelab.johnson.superres import degrade, psnr
from stylelab.johnson.training import Trainer
from stylelab.nets.transform import STYLE_ARCH, TransformNet
from stylelab.nets.vgg import convs_upto

from . import vgg_files
from .reference import check_gradients, from_torch, rel_err, to_torch
from .torch_models import torch_params, torch_perceptual, torch_transform

LR = 1e-3


def write_photos(folder, rng, count=5, sizes=((40, 52), (48, 40), (36, 36))):
    folder.mkdir(exist_ok=True)
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        # Smooth "photos": random blobs, so the network has something to keep.
        small = rng.random((h // 4, w // 4, 3))
        img = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        img.save(folder / f"photo{i}.png")
    return folder


@pytest.fixture(scope="module")
def vgg16_weights():
    full = vgg_files.random_torch_weights("vgg16", seed=16)
    return {k: full[k] for k in convs_upto("vgg16", "relu4_3")}


def loss_network(weights, dtype):
    return vgg_files.stylelab_vgg("vgg16", weights, dtype)


def torch_vgg_fn(weights):
    w64 = vgg_files.as_float64(weights)
    return lambda x: vgg_files.torch_vgg("vgg16", w64, vgg_files.TORCHVISION, x)


def test_two_training_steps_match_pytorch(vgg16_weights, tmp_path, rng):
    """Loss terms, every gradient and two Adam updates against torch.optim.Adam, float64."""
    data = ImageFolder(write_photos(tmp_path / "data", rng), size=32, seed=3, dtype=np.float64)
    style = rng.random((1, 36, 44, 3))
    weights = {"content": 1.0, "style": 3e4, "tv": 1e-2}
    vgg = loss_network(vgg16_weights, np.float64)
    loss = PerceptualLoss(vgg, style, weights["content"], weights["style"], weights["tv"])
    net = TransformNet(STYLE_ARCH, seed=5, dtype=np.float64)
    trainer = Trainer(net, loss, data, batch_size=2, lr=LR)

    tp = torch_params(net.params)
    opt = torch.optim.Adam(list(tp.values()), lr=LR)
    vgg_fn = torch_vgg_fn(vgg16_weights)
    style_feats = vgg_fn(to_torch(style))
    cursor = 0
    for step in range(2):
        photos, cursor = data.batch(cursor, 2)
        # stylelab: the gradients by hand, then the trainer's step on the same batch
        before = {k: v.copy() for k, v in net.params.items()}
        y, cache = net.forward(photos)
        value, dy = loss(y, loss.content_targets(photos))
        terms = dict(loss.terms)
        _, grads = net.backward(dy, cache)
        assert trainer.train_step() == value and trainer.cursor == cursor
        # PyTorch
        opt.zero_grad()
        yt = torch_transform(to_torch(photos), tp, STYLE_ARCH)
        total, ref_terms = torch_perceptual(yt, to_torch(photos), style_feats, vgg_fn, weights,
                                            CONTENT_LAYERS, STYLE_LAYERS)
        total.backward()
        opt.step()

        assert rel_err(y, from_torch(yt)) <= 1e-10
        assert set(terms) == set(ref_terms) == {"content", "style", "tv"}
        for k in terms:
            assert abs(terms[k] - ref_terms[k].item()) <= 1e-10 * abs(ref_terms[k].item()), k
        ref_grads = {k: from_torch(t.grad) for k, t in tp.items()}
        scale = max(np.abs(g).max() for g in ref_grads.values())
        for k, g in grads.items():
            # Adam's update, compared as a change (the parameters are ~1000x larger).
            delta = net.params[k] - before[k]
            ref_delta = from_torch(tp[k]) - before[k]
            if np.abs(ref_grads[k]).max() > 1e-10 * scale:
                assert rel_err(g, ref_grads[k]) <= 1e-10, (step, k)
                assert np.abs(delta - ref_delta).max() <= 1e-7 * LR, (step, k)
            else:
                # A bias before an instance norm: its gradient is rounding noise
                # (~1e-16 of the others) on both sides, and Adam's eps keeps it
                # from moving the parameter.
                assert max(np.abs(delta).max(), np.abs(ref_delta).max()) <= 1e-2 * LR, (step, k)


def test_a_super_resolution_step_matches_pytorch(vgg16_weights, rng):
    """Degraded input, x4 network, feature loss at relu2_2 plus the pixel baseline and TV."""
    weights = {"content": 1.0, "pixel": 5.0, "tv": 1e-2}
    vgg = loss_network(vgg16_weights, np.float64)
    loss = PerceptualLoss(vgg, None, weights["content"], 0.0, weights["tv"],
                          pixel_weight=weights["pixel"])
    net = TransformNet("c9s1-16,R16,u16,u16,c9s1-3", seed=2, dtype=np.float64)
    photos = rng.random((2, 32, 32, 3))
    small = degrade(photos, 4)
    y, cache = net.forward(small)
    value, dy = loss(y, loss.content_targets(photos))
    _, grads = net.backward(dy, cache, input_grad=False)

    tp = torch_params(net.params)
    vgg_fn = torch_vgg_fn(vgg16_weights)
    yt = torch_transform(to_torch(small), tp, net.arch)
    total, ref_terms = torch_perceptual(yt, to_torch(photos), {}, vgg_fn, weights,
                                        CONTENT_LAYERS, ())
    total.backward()
    assert set(loss.terms) == set(ref_terms) == {"content", "pixel", "tv"}
    assert abs(value - total.item()) <= 1e-10 * total.item()
    check_gradients(grads, {k: from_torch(t.grad) for k, t in tp.items()}, 1e-10)


def test_a_short_run_lowers_the_loss(vgg16_weights, tmp_path, rng):
    data = ImageFolder(write_photos(tmp_path / "data", rng, count=8), size=32, seed=0)
    vgg = loss_network(vgg16_weights, np.float32)
    style = rng.random((1, 32, 32, 3)).astype(np.float32)
    loss = PerceptualLoss(vgg, style, 1.0, 1e4, 0.0)
    net = TransformNet("c9s1-8,d16,R16,R16,u8,c9s1-3", seed=0)
    trainer = Trainer(net, loss, data, batch_size=4, lr=1e-2)
    probe, _ = data.batch(0, 4)

    def probe_loss():
        y, _ = net.forward(probe, keep_cache=False)
        return loss(y, loss.content_targets(probe))[0]

    start = probe_loss()
    for _ in range(80):
        trainer.train_step()
    # Measured with three other seeds: 0.40-0.43 of the start after 80 steps.
    assert probe_loss() < 0.6 * start


def test_resume_continues_exactly(vgg16_weights, tmp_path, rng):
    """6 steps straight == 4 steps, checkpoint, new objects from the file, 2 more."""
    folder = write_photos(tmp_path / "data", rng)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    vgg = loss_network(vgg16_weights, np.float32)
    style = rng.random((1, 32, 32, 3)).astype(np.float32)

    def trainer():
        loss = PerceptualLoss(vgg, style, 1.0, 1e4, 1e-3)
        data = ImageFolder(folder, size=32, seed=7)
        return Trainer(TransformNet("c9s1-8,d16,R16,u8,c9s1-3", seed=1), loss, data, 3)

    straight = trainer()
    for _ in range(6):
        straight.train_step()
    first = trainer()
    for _ in range(4):
        first.train_step()
    first.save(tmp_path / "ckpt.h5", {"task": "style"})
    second = trainer()
    second.restore(tmp_path / "ckpt.h5")
    assert (second.step, second.cursor, second.adam.t) == (4, first.cursor, 4)
    for _ in range(2):
        second.train_step()
    assert straight.cursor == second.cursor and straight.data.unreadable == second.data.unreadable
    for k in straight.net.params:
        assert np.array_equal(straight.net.params[k], second.net.params[k]), k
        assert np.array_equal(straight.adam.m[k], second.adam.m[k])
    net, meta = load_model(tmp_path / "ckpt.h5")
    assert meta["steps"] == 4 and net.arch == "c9s1-8,d16,R16,u8,c9s1-3"


def test_the_data_stream(tmp_path, rng):
    folder = write_photos(tmp_path / "data", rng, count=3)
    (folder / "notes.txt").write_text("not an image, not counted")
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.png").write_bytes((folder / "photo0.png").read_bytes()[:60])
    data = ImageFolder(folder, size=16, seed=0)
    assert len(data.files) == 4
    batch, cursor = data.batch(0, 6)                 # crosses into the second epoch
    assert batch.shape == (6, 16, 16, 3) and batch.dtype == np.float32
    assert cursor == 8 and data.unreadable == {str(folder / "sub" / "truncated.png")}
    again, _ = ImageFolder(folder, size=16, seed=0).batch(0, 6)
    other, _ = ImageFolder(folder, size=16, seed=1).batch(0, 6)
    assert np.array_equal(batch, again) and not np.array_equal(batch, other)


@pytest.mark.parametrize("case", ["missing", "empty", "all unreadable"])
def test_bad_data_folders(tmp_path, case):
    folder = tmp_path / "data"
    if case != "missing":
        folder.mkdir()
    if case == "all unreadable":
        (folder / "a.jpg").write_bytes(b"nope")
        (folder / "b.png").write_bytes(b"")
    message = {"missing": "no such folder", "empty": "no image files in it",
               "all unreadable": "none of the 2 image files could be read"}[case]
    with pytest.raises(DataError, match=message):
        ImageFolder(folder, size=16).batch(0, 4)


def test_degrade_blurs_then_shrinks(rng):
    photos = rng.random((2, 16, 24, 3)).astype(np.float32)
    small = degrade(photos, 4)
    assert small.shape == (2, 4, 6, 3) and small.dtype == np.float32
    flat = np.full((1, 8, 8, 3), 0.25, np.float32)
    assert np.allclose(degrade(flat, 4), 0.25, atol=1e-6)   # blur and bicubic keep a constant
    with pytest.raises(ValueError, match="multiples of 4"):
        degrade(photos[:, :15], 4)


def test_psnr():
    a = np.zeros((4, 4, 3))
    assert psnr(a, a) == float("inf") and abs(psnr(a + 0.1, a) - 20.0) < 1e-9
