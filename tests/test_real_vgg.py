"""The shared real VGG-16 (../shared/models/vgg16-mri), through the ONNX reader: what trained weights have.

Skipped, saying why, where ../shared is absent. The checks are properties a
random VGG does not have, not pixels:

* selectivity: a trained network's deep channels answer to particular parts
  of a scene, so on a photo most of `relu5_1` is silent; with random weights
  (the control, same architecture and convention) about half of it fires;
* Gatys et al. with it, from the photo, moves the picture toward the
  painting: the style loss falls by an order of magnitude, the colours move
  toward the painting's.
"""

import numpy as np
import pytest

from stylelab import gatys
from stylelab.files.images import load_image
from stylelab.files.shared import shared_file, shared_vgg16
from stylelab.files.vgg_h5 import CAFFE
from stylelab.files.weights import load_vgg
from stylelab.nets.vgg import VGG, random_weights


@pytest.fixture(scope="module")
def real():
    path = shared_vgg16()
    if path is None:
        pytest.skip("../shared/models/vgg16-mri is absent: the real VGG-16 is shared beside the "
                    "project, not in it")
    return load_vgg(path)


def _image(name, size):
    path = shared_file(f"images/{name}.jpg")
    if path is None:
        pytest.skip(f"../shared/images/{name}.jpg is absent")
    return load_image(path, size=size)


def active(net, x, layer):
    return float((net.forward(x[None], layers=[layer], keep_cache=False)[layer] > 0).mean())


def test_its_deep_channels_are_selective_as_random_ones_are_not(real):
    photo = _image("tubingen", 128)
    random = VGG("vgg16", random_weights("vgg16", 0, upto="relu5_1"), CAFFE, family="caffe")
    assert active(real, photo, "relu5_1") < 0.35          # measured: 26%
    assert active(random, photo, "relu5_1") > 0.4         # measured: 49% (seeds 0-2: 49-52%)
    assert active(real, photo, "relu1_1") > 0.4           # the first layer is not sparse


def test_gatys_with_it_moves_the_photo_toward_the_painting(real):
    photo, painting = _image("tubingen", 64), _image("starry_night", 64)
    result = gatys.stylize(real, photo, painting, iterations=30, seed=0, init="content")
    objective = gatys.GatysObjective(real, photo, painting)
    objective(photo)
    before = objective.terms["style"]
    objective(result.image)
    assert objective.terms["style"] < before / 10
    mean = lambda img: np.asarray(img).reshape(-1, 3).mean(axis=0)
    assert np.linalg.norm(mean(result.image) - mean(painting)) < \
        0.7 * np.linalg.norm(mean(photo) - mean(painting))
