"""``stylelab train`` / ``train-sr`` / ``train-decoder``: train a network; checkpoints and resume.

The three commands share one loop (:class:`stylelab.johnson.training.Trainer`);
:mod:`stylelab.johnson.tasks` assembles each task's network, input and loss.
This module parses the options, runs the loop with a progress bar, samples
and checkpoints, and reports. ``--resume`` continues from the checkpoint
and refuses an option that contradicts it, or a changed style image or data
folder: the resumed run must draw the batches the killed one would have.
"""

import os
import sys
import time

import numpy as np

from ..backend import asarray
from ..files.atomic import check_output_folder, check_outputs
from ..files.images import load_image, save_image
from ..files.model_file import load_model
from ..files.weights import find_weights
from ..johnson.tasks import TASKS, build, check_resumable, settle_options
from ..johnson.training import identity
from ..optim import NonFiniteLoss
from ..nets.decoder import LEVELS
from ..nets.transform import SR_ARCH, UPSAMPLING
from .argtypes import non_negative_float, positive_int

STYLE_DEFAULTS, SR_DEFAULTS, DECODER_DEFAULTS = (TASKS[t] for t in ("style", "super-resolution",
                                                                     "decoder"))


def add_training_arguments(p, defaults, steps, loss_network="VGG-16"):
    p.add_argument("--data", required=True, help="a folder of training photos (searched "
                   "recursively; unreadable files are skipped and counted)")
    p.add_argument("--out", required=True, help="the trained model (.h5)")
    p.add_argument("--weights", help=f"{loss_network} weights for the loss network (default: "
                   "$STYLELAB_WEIGHTS, else the cache, else download them)")
    p.add_argument("--steps", type=positive_int, default=steps,
                   help=f"Adam steps in all (default: {steps})")
    if "arch" in defaults:
        p.add_argument("--arch", help=f"architecture string (default: {defaults['arch']})"
                       if defaults["arch"] else "architecture string (default: the paper's "
                       "for the factor)")
        p.add_argument("--upsample", choices=UPSAMPLING,
                       help="u stages: nearest + conv (default) or transposed conv")
    p.add_argument("--batch-size", type=positive_int,
                   help=f"default: {defaults['batch_size']}")
    p.add_argument("--crop-size", type=positive_int,
                   help=f"side of the training crops (default: {defaults['crop_size']})")
    p.add_argument("--lr", type=non_negative_float,
                   help=f"Adam's learning rate (default: {defaults['lr']:g})")
    p.add_argument("--seed", type=int, help="seed of the initial weights and the data "
                   "order (default: 0)")
    p.add_argument("--content-weight", type=non_negative_float,
                   help=f"default: {defaults['content_weight']}")
    p.add_argument("--tv-weight", type=non_negative_float,
                   help=f"default: {defaults['tv_weight']}")
    p.add_argument("--checkpoint", help="checkpoint file (default: OUT with .ckpt.h5)")
    p.add_argument("--checkpoint-every", type=positive_int, default=500,
                   help="write the checkpoint every N steps (default: 500)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint exactly where it was written")
    p.add_argument("--sample", help="a photo to run through the network every "
                   "--sample-every steps (default: the first readable training image)")
    p.add_argument("--sample-every", type=positive_int, default=500,
                   help="write a sample every N steps (default: 500)")
    p.add_argument("--samples", help="folder of the samples (default: OUT_samples)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_train_arguments(p):
    """``stylelab train``: a style network."""
    p.add_argument("--style", required=True, help="the style image")
    add_training_arguments(p, STYLE_DEFAULTS, steps=40000)
    p.add_argument("--style-weight", type=non_negative_float,
                   help=f"default: {STYLE_DEFAULTS['style_weight']:g} (for torchvision's "
                   "VGG-16; see docs/johnson.md)")
    p.add_argument("--style-size", type=positive_int,
                   help=f"longest side of the style image (default: {STYLE_DEFAULTS['style_size']})")


def add_train_sr_arguments(p):
    """``stylelab train-sr``: a super-resolution network."""
    add_training_arguments(p, SR_DEFAULTS, steps=200000)
    p.add_argument("--factor", type=int, choices=sorted(SR_ARCH),
                   help="upscaling factor (default: 4)")
    p.add_argument("--pixel-weight", type=non_negative_float,
                   help="weight of a per-pixel squared error, the paper's baseline (default: 0; "
                   "--content-weight 0 --pixel-weight 1 trains the baseline alone)")


def add_train_decoder_arguments(p):
    """``stylelab train-decoder``: a decoder from VGG-19's relu{L}_1 back to pixels."""
    p.add_argument("--level", type=int, choices=LEVELS, required=True,
                   help="decode relu{LEVEL}_1 (5 is the deepest)")
    add_training_arguments(p, DECODER_DEFAULTS, steps=20000, loss_network="VGG-19")
    p.add_argument("--pixel-weight", type=non_negative_float,
                   help="weight of the pixel reconstruction loss (default: 1; "
                   "--content-weight weighs the feature reconstruction at relu{LEVEL}_1)")


def _checkpoint_path(args):
    return args.checkpoint or os.path.splitext(args.out)[0] + ".ckpt.h5"


def _samples_path(args):
    return args.samples or os.path.splitext(args.out)[0] + "_samples"


def _check_outputs(args, task):
    """Refuse, before any work, outputs that cannot be written or would destroy an input."""
    if os.path.splitext(args.out)[1].lower() not in (".h5", ".hdf5"):
        raise ValueError(f"--out {args.out}: a model is an HDF5 file; name it .h5")
    arch = "vgg19" if task == "decoder" else "vgg16"
    inputs = [args.weights or find_weights(arch), getattr(args, "style", None), args.data,
              args.sample]
    # A resumed run reads its checkpoint and then writes it again: that one is meant.
    check_outputs([args.out, _checkpoint_path(args)], inputs)
    check_output_folder(_samples_path(args), inputs + [args.out, _checkpoint_path(args)])


def run_training(args, task):
    """``stylelab train``, ``train-sr`` and ``train-decoder`` (a task of :data:`~stylelab.johnson.tasks.TASKS`)."""
    _check_outputs(args, task)
    dtype = np.dtype(args.dtype)
    ckpt_path = _checkpoint_path(args)
    ckpt_meta = None
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise ValueError(f"--resume: no checkpoint at {ckpt_path}")
        ckpt_net, ckpt_meta, ckpt_train = load_model(ckpt_path, dtype=dtype, training=True)
        if ckpt_meta.get("task") != task:
            raise ValueError(f"{ckpt_path} is a {ckpt_meta.get('task')} checkpoint, not {task}")
    given = {key: getattr(args, key) for key in TASKS[task]}
    opts = settle_options(task, given, ckpt_meta)
    trainer, meta = build(task, opts, args.data, weights=args.weights,
                          style=getattr(args, "style", None), dtype=dtype, quiet=args.quiet)
    if args.resume:
        check_resumable(ckpt_meta, meta, ckpt_path)
        trainer.resume_from(ckpt_net, ckpt_train, ckpt_path)
    _train_loop(args, trainer, meta, ckpt_path)


def _sample_input(args, trainer):
    """The sample photo at the crop size, as the network's input (1, h, w, 3)."""
    data = trainer.data
    if args.sample:
        img = load_image(args.sample, size=data.size, dtype=data.dtype)
    else:
        img = data.first_crop()
    x = asarray(img[None])
    if trainer.make_input is not identity:     # SR, decoders: sides a multiple of the factor
        f = int(trainer.net.factor)
        x = trainer.make_input(x[:, :x.shape[1] - x.shape[1] % f, :x.shape[2] - x.shape[2] % f])
    return x


def _train_loop(args, trainer, meta, ckpt_path):
    from tqdm import tqdm
    samples = _samples_path(args)
    sample = _sample_input(args, trainer)
    b = trainer.batch_size
    bar = tqdm(total=args.steps * b, initial=min(trainer.step, args.steps) * b, unit="img",
               disable=args.quiet, dynamic_ncols=True, desc=f"train {meta['task']}")
    start, start_step = time.perf_counter(), trainer.step
    saved = trainer.step if args.resume else None      # the step the checkpoint holds
    try:
        while trainer.step < args.steps:
            trainer.train_step()
            terms = trainer.loss.terms
            bar.set_postfix_str(f"step {trainer.step}, loss {trainer.last_loss:.4g} = "
                                + " + ".join(f"{k} {v:.3g}" for k, v in terms.items())
                                + (f"; {len(trainer.data.unreadable)} unreadable"
                                   if trainer.data.unreadable else ""), refresh=False)
            bar.update(b)
            if trainer.step % args.sample_every == 0:
                out, _ = trainer.net.forward(sample, keep_cache=False)
                save_image(os.path.join(samples, f"step_{trainer.step:06d}.png"), out[0])
            if trainer.step % args.checkpoint_every == 0:
                trainer.save(ckpt_path, meta)
                saved = trainer.step
    except KeyboardInterrupt:
        bar.close()
        print(f"stylelab: interrupted at step {trainer.step}; "
              f"{_checkpoint_state(ckpt_path, saved, args)}", file=sys.stderr)
        raise SystemExit(130) from None
    except NonFiniteLoss as exc:
        bar.close()
        raise NonFiniteLoss(f"{exc}; {_checkpoint_state(ckpt_path, saved, args)}") from None
    bar.close()
    trainer.save(ckpt_path, meta)
    trainer.save(args.out, meta, checkpoint=False)
    seconds = time.perf_counter() - start
    done = trainer.step - start_step
    bad = trainer.data.unreadable
    print(f"{args.out}: {meta['task']} network after {trainer.step} steps "
          f"({done * trainer.batch_size / max(seconds, 1e-9):.2f} images/s this run); "
          f"final loss {trainer.last_loss if trainer.last_loss is not None else float('nan'):.4g}"
          + (f"; skipped {len(bad)} unreadable file(s), e.g. {sorted(bad)[0]}" if bad else ""))
    if "random weights" in meta["loss_network"]:
        print(f"stylelab: note: the loss network had random weights; this model is "
              f"not a real {meta['task']} network", file=sys.stderr)


def _checkpoint_state(ckpt_path, saved, args):
    """What a stopped run leaves: the checkpoint and its step, or that there is none yet."""
    if saved is None:
        return (f"no checkpoint was written yet (one is every {args.checkpoint_every} "
                f"steps), so there is nothing to resume")
    return f"the checkpoint {ckpt_path} holds step {saved}: continue with --resume"


def run_train(args):
    run_training(args, "style")


def run_train_sr(args):
    run_training(args, "super-resolution")


def run_train_decoder(args):
    run_training(args, "decoder")
