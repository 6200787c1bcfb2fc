"""Training a transformation network with perceptual losses (Johnson et al. 2016).

One step, for a batch of photos ``y_c``::

    x       = make_input(y_c)          # the photo itself (style), or a blurred,
                                       # downsampled copy (super-resolution)
    y       = net(x)                   # forward, keeping caches
    loss    = feature(y, y_c) + style(y) + TV(y)      through the frozen VGG
    dy      = d loss / d y             # VGG's backward to its input
    grads   = net.backward(dy)         # to every parameter
    Adam step (lr 1e-3)

A :class:`Trainer` holds everything that changes as training goes (the
parameters, Adam's moments, the step and the data cursor) and writes it all
to a checkpoint, so a resumed run continues bit for bit.
"""

import numpy as np

from ..backend import get_array_module
from ..files.model_file import load_model, save_model
from ..optim import Adam, NonFiniteLoss

TRAIN_ATTRS = ("step", "cursor", "adam_t", "adam_lr", "adam_beta1", "adam_beta2", "adam_eps")


def identity(photos):
    """The style network's input is the photo itself."""
    return photos


class Trainer:
    """Trains `net` on batches from `data` under `loss`.

    Parameters
    ----------
    net : stylelab.nets.transform.TransformNet
    loss : stylelab.johnson.perceptual.PerceptualLoss
    data : stylelab.johnson.data.ImageFolder
    batch_size : int
    lr : float
    make_input : callable
        Photos (N, S, S, 3) -> the network's input.
    """

    def __init__(self, net, loss, data, batch_size=4, lr=1e-3, make_input=identity):
        self.net, self.loss, self.data = net, loss, data
        self.batch_size, self.make_input = batch_size, make_input
        self.adam = Adam(lr=lr)
        self.step, self.cursor = 0, 0
        self.last_loss = None

    def train_step(self):
        """One Adam step on the next batch; returns the loss (terms in ``loss.terms``)."""
        photos, cursor = self.data.batch(self.cursor, self.batch_size)
        targets = self.loss.content_targets(photos)
        y, cache = self.net.forward(self.make_input(photos))
        value, dy = self.loss(y, targets)
        if not np.isfinite(value):
            raise NonFiniteLoss(f"the loss became {value} at step {self.step + 1}; "
                                f"lower the learning rate or the loss weights")
        del targets
        _, grads = self.net.backward(dy, cache, input_grad=False)
        del cache
        self.adam.step(self.net.params, grads)
        # A large learning rate can make a weight infinite with the loss still
        # finite: stop here, saying where, rather than save an infinite model.
        xp = get_array_module(grads[next(iter(grads))])
        if not all(bool(xp.isfinite(p).all()) for p in self.net.params.values()):
            raise NonFiniteLoss(f"the weights became infinite or NaN at step {self.step + 1}; "
                                f"lower the learning rate")
        self.step, self.cursor, self.last_loss = self.step + 1, cursor, value
        return value

    # -- checkpoints -------------------------------------------------------
    def state(self):
        """The training state as :func:`stylelab.files.model_file.save_model` stores it."""
        a = self.adam
        attrs = {"step": self.step, "cursor": self.cursor, "adam_t": a.t, "adam_lr": a.lr,
                 "adam_beta1": a.betas[0], "adam_beta2": a.betas[1], "adam_eps": a.eps,
                 "unreadable": sorted(self.data.unreadable) or ""}
        if a.m:
            return {"attrs": attrs, "adam_m": a.m, "adam_v": a.v}
        # Before the first step Adam has no moments yet: store zeros of the right shapes.
        zeros = {k: get_array_module(p).zeros(p.shape, p.dtype) for k, p in self.net.params.items()}
        return {"attrs": attrs, "adam_m": zeros, "adam_v": zeros}

    def save(self, path, meta, checkpoint=True):
        """Write the model (and, for a checkpoint, the training state) atomically."""
        save_model(path, self.net, {**meta, "steps": self.step},
                   self.state() if checkpoint else None)

    def restore(self, path):
        """Continue from a checkpoint: parameters, Adam's moments, step and cursor.

        Returns the checkpoint's metadata (the caller checks it matches the run).
        """
        net, meta, train = load_model(path, dtype=self.net.dtype, training=True)
        self.resume_from(net, train, path)
        return meta

    def resume_from(self, net, train, path):
        """:meth:`restore` from a checkpoint already read by :func:`load_model` (from `path`)."""
        if net.spec != self.net.spec:
            raise ValueError(f"{path} is a checkpoint of {net.arch} ({net.upsample}), "
                             f"not of {self.net.arch} ({self.net.upsample})")
        attrs = train["attrs"]
        missing = [k for k in TRAIN_ATTRS if k not in attrs]
        if missing:
            raise ValueError(f"{path}: checkpoint lacks the {missing[0]!r} attribute")
        self.net.params = net.params
        self.adam.load_state_dict({
            "t": attrs["adam_t"], "lr": attrs["adam_lr"],
            "betas": (attrs["adam_beta1"], attrs["adam_beta2"]), "eps": attrs["adam_eps"],
            "m": train["adam_m"] if attrs["adam_t"] else {},
            "v": train["adam_v"] if attrs["adam_t"] else {}})
        self.step, self.cursor = int(attrs["step"]), int(attrs["cursor"])
        bad = attrs.get("unreadable") or []
        self.data.unreadable.update([bad] if isinstance(bad, str) else bad)
