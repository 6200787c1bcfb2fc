"""Training AdaIN's decoder: one step equals pytorch-AdaIN's, and the command resumes exactly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylelab.files.model_file import load_model
from stylelab.files.vgg_h5 import save_vgg_h5
from stylelab.johnson.adain_loss import AdainLoss
from stylelab.johnson.training import Trainer
from stylelab.nets.decoder import make_decoder
from stylelab.nets.vgg import VGG, random_weights

from . import vgg_files
from .reference import rel_err, to_torch
from .test_released import calc_mean_std, run, torch_adain, torch_decoder
from .test_training import write_photos

COLOUR = (np.random.default_rng(5).standard_normal((3, 1, 1, 3)) * 0.5,
          np.random.default_rng(6).standard_normal(3) * 0.1)


class FixedPairs:
    """Photos and paintings in memory, as tasks.PhotosAndPaintings pairs them."""

    def __init__(self, photos, paintings):
        self.photos, self.paintings, self.unreadable = photos, paintings, set()

    def batch(self, cursor, n):
        return self.photos, cursor + n

    def styles_for(self, photos):
        return self.paintings


def test_one_training_step_equals_pytorch_adain(rng):
    """pytorch-AdaIN's Net.forward (its loss) and a torch.optim.Adam step, float64."""
    weights = random_weights("vgg19", seed=2, upto="relu4_1")
    encoder = VGG("vgg19", weights, vgg_files.IDENTITY, dtype=np.float64, padding="reflect",
                  preprocess=COLOUR, family="normalised")
    photos, paintings = rng.random((2, 16, 16, 3)), rng.random((2, 16, 16, 3))
    net = make_decoder(4, seed=3, dtype=np.float64)
    loss = AdainLoss(encoder, FixedPairs(photos, paintings), content_weight=1.0, style_weight=10.0)
    trainer = Trainer(net, loss, FixedPairs(photos, paintings), batch_size=2, lr=1e-4,
                      make_input=loss.decoder_input)
    before = {k: v.copy() for k, v in net.params.items()}
    targets = loss.content_targets(photos)
    y, cache = net.forward(loss.decoder_input(photos))
    value, dy = loss(y, targets)
    terms = dict(loss.terms)
    _, grads = net.backward(dy, cache, input_grad=False)
    trainer.train_step()

    # PyTorch, written from pytorch-AdaIN's net.py: encode_with_intermediate, calc_content_loss,
    # calc_style_loss (MSE of means and of stds), loss = content + 10 * style.
    tw = {k: (w.transpose(0, 3, 1, 2).astype(np.float64), b.astype(np.float64))
          for k, (w, b) in weights.items()}
    pre = (COLOUR[0].transpose(0, 3, 1, 2), COLOUR[1])

    def encode(x):
        out = vgg_files.torch_vgg("vgg19", tw, vgg_files.IDENTITY, x, upto="relu4_1",
                                  padding="reflect", preprocess=pre)
        return [out[n] for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1")]
    keys = [k for k in before if k.endswith(".w")]
    tp = {k: torch.tensor(before[k].transpose(0, 3, 1, 2), requires_grad=True) for k in keys}
    tb = {k: torch.tensor(before[k[:-2] + ".b"], requires_grad=True) for k in keys}
    style_feats = encode(to_torch(paintings))
    t = torch_adain(encode(to_torch(photos))[-1], style_feats[-1]).detach()
    g_t = torch_decoder(4, [(tp[k], tb[k]) for k in keys], t)
    g_feats = encode(g_t)
    loss_c = F.mse_loss(g_feats[-1], t)
    loss_s = 0
    for gf, sf in zip(g_feats, style_feats):
        (gm, gs), (sm, ss) = calc_mean_std(gf), calc_mean_std(sf)
        loss_s = loss_s + F.mse_loss(gm, sm) + F.mse_loss(gs, ss)
    total = loss_c + 10.0 * loss_s
    total.backward()
    assert abs(value - total.item()) <= 1e-10 * total.item()
    assert abs(terms["content"] - loss_c.item()) <= 1e-10 * loss_c.item()
    for k in keys:
        assert rel_err(grads[k], tp[k].grad.numpy().transpose(0, 2, 3, 1)) <= 1e-9, k
        assert rel_err(grads[k[:-2] + ".b"], tb[k].grad.numpy()) <= 1e-9, k
    opt = torch.optim.Adam([*tp.values(), *tb.values()], lr=1e-4)
    opt.step()
    for k in keys:
        assert rel_err(net.params[k], tp[k].detach().numpy().transpose(0, 2, 3, 1)) <= 1e-10, k


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_adain")
    rng = np.random.default_rng(8)
    write_photos(d / "photos", rng, count=3, sizes=((20, 24),))
    write_photos(d / "paintings", rng, count=2, sizes=((24, 20),))
    save_vgg_h5(d / "encoder.h5", "vgg19", random_weights("vgg19", seed=1, upto="relu4_1"),
                vgg_files.IDENTITY, "random weights (seed 1)", family="normalised",
                padding="reflect", preprocess=(COLOUR[0].astype(np.float32),
                                               COLOUR[1].astype(np.float32)))
    save_vgg_h5(d / "other.h5", "vgg19", random_weights("vgg19", seed=2, upto="relu4_1"),
                vgg_files.IDENTITY, "random weights (seed 2)", family="normalised",
                padding="reflect", preprocess=(COLOUR[0].astype(np.float32),
                                               COLOUR[1].astype(np.float32)))
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(d / "photo.png")
    return d


def train(d, out, steps, *extra):
    return run("train-adain", "--data", d / "photos", "--styles", d / "paintings", "--out", out,
               "--weights", d / "encoder.h5", "--crop-size", 16, "--batch-size", 2, "--steps",
               steps, "--quiet", "--checkpoint-every", 1, *extra)


def test_train_adain_resumes_exactly_and_its_decoder_serves_stylelab_adain(folders, tmp_path):
    d = folders
    res = train(d, tmp_path / "straight.h5", 2)
    assert res.returncode == 0, res.stderr
    assert "adain network after 2 steps" in res.stdout
    assert train(d, tmp_path / "resumed.h5", 1).returncode == 0
    res = train(d, tmp_path / "resumed.h5", 2, "--resume")
    assert res.returncode == 0, res.stderr
    (a, meta), (b, _) = (load_model(tmp_path / f"{n}.h5") for n in ("straight", "resumed"))
    assert meta["task"] == "adain" and meta["steps"] == 2
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    common = ["--content", d / "photo.png", "--style", d / "photo.png", "--size", 24, "--quiet"]
    res = run("adain", "--encoder", d / "encoder.h5", "--decoder", tmp_path / "straight.h5",
              "--out", tmp_path / "o.png", *common)
    assert res.returncode == 0, res.stderr
    res = run("adain", "--encoder", d / "other.h5", "--decoder", tmp_path / "straight.h5",
              "--out", tmp_path / "p.png", *common)
    assert res.returncode == 2 and "trained on another encoder" in res.stderr
    assert not (tmp_path / "p.png").exists()
