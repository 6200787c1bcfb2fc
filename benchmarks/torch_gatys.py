"""The Gatys objective written in PyTorch: the benchmarks' reference side.

The same formulas as ``stylelab.gatys.GatysObjective`` with its defaults
(content relu4_2, style relu1_1 ... relu5_1 averaged, the paper's
normalisation, style weight 1e3), on VGG-19 weights read from a stylelab
HDF5 file, frozen: only the gradient with respect to the image is computed.
"""

import numpy as np
import torch

from stylelab.files.vgg_h5 import read_vgg_h5
from stylelab.nets.vgg import layer_names

CONTENT = "relu4_2"
STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def as_tensor(img, device="cpu"):
    """An (H, W, 3) NumPy image as a (1, 3, H, W) tensor."""
    return torch.tensor(np.ascontiguousarray(img.transpose(2, 0, 1)[None]), device=device)


def torch_objective(weights_path, content, style, device="cpu", style_weight=1e3):
    """``loss_and_grad(x)`` for (1, 3, H, W) tensors `x`: ``(float, grad tensor)``.

    `content` and `style` are (H, W, 3) NumPy images; the style's Gram targets
    are rescaled to the content's number of positions, as stylelab does.
    """
    F = torch.nn.functional
    _, weights, conv = read_vgg_h5(weights_path)
    names = layer_names("vgg19")[:layer_names("vgg19").index("relu5_1") + 1]
    params = {n: (torch.tensor(w.transpose(0, 3, 1, 2)).to(device), torch.tensor(b).to(device))
              for n, (w, b) in weights.items() if n in names}
    mean = torch.tensor(conv["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(conv["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def features(img):
        h, out = (img * conv["input_scale"] - mean) / std, {}
        for name in names:
            if name.startswith("conv"):
                h = F.conv2d(h, *params[name], padding=1)
            elif name.startswith("relu"):
                h = torch.relu(h)
            else:
                h = F.max_pool2d(h, 2)
            out[name] = h
        return out

    def gram(f):
        fm = f[0].reshape(f.shape[1], -1)
        return fm @ fm.T

    def positions(f):
        return f.shape[2] * f.shape[3]

    with torch.no_grad():
        fc = features(as_tensor(content, device))
        p, m_content = fc[CONTENT], {n: positions(fc[n]) for n in STYLE}
        del fc               # one pass's activations at a time, as stylelab does
        fs = features(as_tensor(style, device))
        targets = {n: gram(fs[n]) * (m_content[n] / positions(fs[n])) for n in STYLE}
        del fs

    def loss_and_grad(x):
        x = x.detach().clone().requires_grad_(True)
        f = features(x)
        loss = 0.5 * ((f[CONTENT] - p) ** 2).sum()
        for n in STYLE:
            c, m = f[n].shape[1], positions(f[n])
            loss = loss + style_weight / len(STYLE) * (
                (gram(f[n]) - targets[n]) ** 2).sum() / (4 * c * c * m * m)
        loss.backward()
        return float(loss.detach()), x.grad

    return loss_and_grad
