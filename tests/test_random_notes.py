"""Every picture made from random weights says so, whichever way the weights came in (issue 28)."""

import numpy as np
import pytest
from PIL import Image

from stylelab import cli
from stylelab.files.model_file import save_model
from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.nets.transform import TransformNet


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    return tmp_path / "p.png"


def _run(argv, capsys):
    assert cli.main([str(a) for a in argv]) in (0, None)
    return capsys.readouterr()


@pytest.mark.parametrize("given", ["--weights", "$STYLELAB_WEIGHTS"])
def test_gatys_says_its_vgg_was_random(given, photo, tmp_path, capsys, monkeypatch):
    save_random_vgg_h5(tmp_path / "vgg19.h5", "vgg19", seed=0, upto="relu5_1")
    argv = ["gatys", "--content", photo, "--style", photo, "--out", tmp_path / "o.png",
            "--size", 16, "--iterations", 1, "--quiet"]
    if given == "--weights":
        argv += ["--weights", tmp_path / "vgg19.h5"]
    else:
        monkeypatch.setenv("STYLELAB_WEIGHTS", str(tmp_path / "vgg19.h5"))
    err = _run(argv, capsys).err
    assert "the VGG had random weights" in err


@pytest.mark.parametrize("loss_network, noted", [("vgg16 (random weights (seed 0))", True),
                                                 ("vgg16 (vgg16-397923af.pth sha256:...)", False)])
def test_stylize_says_its_network_was_trained_through_random_weights(loss_network, noted, photo,
                                                                     tmp_path, capsys):
    net = TransformNet("c3s1-4,d8,R8x1,u4,c3s1-3", seed=0)
    save_model(tmp_path / "m.h5", net, {"task": "style", "loss_network": loss_network})
    err = _run(["stylize", "--model", tmp_path / "m.h5", photo, "--out", tmp_path / "o.png"],
               capsys).err
    assert ("loss network had random weights" in err) == noted
    net = TransformNet("c3s1-4,u4,u4,c3s1-3", seed=0)
    save_model(tmp_path / "sr.h5", net, {"task": "super-resolution", "loss_network": loss_network})
    err = _run(["upscale", "--model", tmp_path / "sr.h5", photo, tmp_path / "u.png"],
               capsys).err
    assert ("loss network had random weights" in err) == noted
