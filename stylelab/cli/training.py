"""``stylelab train`` / ``train-sr`` / ``train-decoder``: train a network; checkpoints and resume.

The three commands share one loop (:class:`stylelab.johnson.training.Trainer`);
:mod:`stylelab.johnson.tasks` assembles each task's network, input and loss.
This module parses the options, runs the loop with a progress bar, samples
and checkpoints, and reports. ``--resume`` continues from the checkpoint
and refuses an option that contradicts it, or a changed style image or data
folder: the resumed run must draw the batches the killed one would have.
"""

import argparse
import os
import signal
import sys
import threading
import time

import numpy as np

from ..backend import asarray
from ..files.atomic import check_output_folder, check_outputs, claimed
from ..files.images import load_image, save_image
from ..files.model_file import load_model
from ..files.weights import locate_weights
from ..johnson.tasks import TASKS, build, check_resumable, settle_options
from ..johnson.training import identity
from ..optim import NonFiniteLoss
from ..nets.decoder import LEVELS, level_layer
from ..nets.transform import SR_ARCH, UPSAMPLING
from .argtypes import level_list, non_negative_float, positive_float, positive_int
from .common import status

STYLE_DEFAULTS, SR_DEFAULTS, DECODER_DEFAULTS, ADAIN_DEFAULTS = (
    TASKS[t] for t in ("style", "super-resolution", "decoder", "adain"))


def add_training_arguments(p, defaults, steps, loss_network="VGG-16", out=True):
    """The options every training command shares, in the groups the README shows.

    Returns the groups by name, for each command to add its own options to.
    """
    io = p.add_argument_group("data and output")
    io.add_argument("--data", required=True, help="a folder of training photos (searched "
                    "recursively; unreadable files are skipped and counted)")
    if out:
        io.add_argument("--out", required=True, help="the trained model (.h5); its checkpoint "
                        "and samples go to runs/NAME/ beside it")
    net = p.add_argument_group("the network")
    if "arch" in defaults:
        net.add_argument("--arch", help=f"architecture string (default: {defaults['arch']})"
                         if defaults["arch"] else "architecture string (default: the paper's "
                         "for the factor)")
        net.add_argument("--upsample", choices=UPSAMPLING,
                         help="u stages: nearest + conv or transposed conv (default: nearest)")
    loss = p.add_argument_group("the loss")
    loss.add_argument("--weights", help=f"{loss_network} weights for the loss network (default: "
                      "$STYLELAB_WEIGHTS, a file or a folder holding both networks; else the "
                      "cache; else download them once)")
    loss.add_argument("--content-weight", type=non_negative_float,
                      help=f"default: {defaults['content_weight']:g}")
    loss.add_argument("--tv-weight", type=non_negative_float,
                      help=f"default: {defaults['tv_weight']:g}")
    opt = p.add_argument_group("the optimisation")
    opt.add_argument("--steps", type=positive_int, default=steps, help="Adam steps in all")
    opt.add_argument("--batch-size", type=positive_int,
                     help=f"default: {defaults['batch_size']}")
    opt.add_argument("--crop-size", type=positive_int,
                     help=f"side of the training crops (default: {defaults['crop_size']})")
    opt.add_argument("--lr", type=non_negative_float,
                     help=f"Adam's learning rate (default: {defaults['lr']:g})")
    opt.add_argument("--seed", type=int, help="seed of the initial weights and the data "
                     f"order (default: {defaults['seed']})")
    opt.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                     help="float64 for checks")
    run = p.add_argument_group("checkpoints, samples and progress")
    run.add_argument("--checkpoint", help="checkpoint file (default: runs/NAME/checkpoint.h5 "
                     "beside --out)")
    run.add_argument("--checkpoint-every", type=positive_int, default=500,
                     help="write the checkpoint every N steps (and at the end, and when "
                     "Ctrl-C stops the run)")
    run.add_argument("--checkpoint-minutes", type=positive_float, default=10.0,
                     help="also write it when this many minutes have passed since the last one")
    run.add_argument("--resume", action="store_true",
                     help="continue from the checkpoint exactly where it was written")
    run.add_argument("--sample", help="a photo to run through the network every "
                     "--sample-every steps and at the end (default: the first readable "
                     "training image)")
    run.add_argument("--sample-every", type=positive_int, default=500,
                     help="write a sample every N steps (and at the end)")
    run.add_argument("--samples", help="folder of the samples (default: runs/NAME/samples/ "
                     "beside --out)")
    run.add_argument("--quiet", action="store_true", help="no status line, no progress bar")
    return {"data and output": io, "the network": net, "the loss": loss}


def add_train_arguments(p):
    """``stylelab train``: a style network."""
    groups = add_training_arguments(p, STYLE_DEFAULTS, steps=40000)
    groups["data and output"].add_argument("--style", required=True, help="the style image")
    loss = groups["the loss"]
    loss.add_argument("--style-weight", type=non_negative_float,
                      help=f"default: {STYLE_DEFAULTS['style_weight']:g} (for torchvision's "
                      "VGG-16; see docs/johnson.md)")
    loss.add_argument("--style-size", type=positive_int,
                      help=f"longest side of the style image (default: "
                      f"{STYLE_DEFAULTS['style_size']})")


def add_train_sr_arguments(p):
    """``stylelab train-sr``: a super-resolution network."""
    groups = add_training_arguments(p, SR_DEFAULTS, steps=200000)
    groups["the network"].add_argument("--factor", type=int, choices=sorted(SR_ARCH),
                                       help="upscaling factor (default: 4)")
    groups["the loss"].add_argument(
        "--pixel-weight", type=non_negative_float, help="weight of a per-pixel squared error, "
        "the paper's baseline (default: 0; --content-weight 0 --pixel-weight 1 trains the "
        "baseline alone)")


def add_train_decoder_arguments(p):
    """``stylelab train-decoder``: decoders from VGG-19's relu{L}_1 back to pixels."""
    groups = add_training_arguments(p, DECODER_DEFAULTS, steps=20000, loss_network="VGG-19",
                                    out=False)
    io = groups["data and output"]
    which = io.add_mutually_exclusive_group(required=True)
    which.add_argument("--levels", type=level_list, help="train these levels one after the "
                       "other, e.g. 5,4,3,2,1 (the whole set for `stylelab wct`), into "
                       "--out-dir; with --resume, finished levels are kept and the unfinished "
                       "one continues")
    which.add_argument("--level", type=int, choices=LEVELS, help="train one level, into --out")
    io.add_argument("--out-dir", help="with --levels: the folder of the decoders "
                    "relu{L}_1.h5 (their checkpoints and samples go to OUT_DIR/runs/)")
    io.add_argument("--out", help="with --level: the decoder's model file (.h5)")
    io.add_argument("--keep-checkpoints", action="store_true", help="with --levels: keep each "
                    "finished level's checkpoint (its Adam state, twice the decoder's size; "
                    "by default removed once the level's decoder is written, as --resume skips "
                    "finished levels)")
    groups["the loss"].add_argument(
        "--pixel-weight", type=non_negative_float, help="weight of the pixel reconstruction "
        "loss (default: 1; --content-weight weighs the feature reconstruction at relu{L}_1)")


def add_train_adain_arguments(p):
    """``stylelab train-adain``: Huang & Belongie's relu4_1 decoder."""
    groups = add_training_arguments(p, ADAIN_DEFAULTS, steps=160000,
                                    loss_network="the encoder's VGG-19 (the normalised VGG-19, "
                                    "as AdaIN's)")
    groups["data and output"].add_argument(
        "--styles", required=True, help="a folder of paintings (WikiArt in the paper); each "
        "batch of photos is paired with a batch of them")
    groups["the loss"].add_argument("--style-weight", type=non_negative_float,
                                    help=f"default: {ADAIN_DEFAULTS['style_weight']:g}")


def _run_folder(args):
    """``runs/NAME/`` beside the model: its checkpoint and samples, apart from the models."""
    folder, name = os.path.split(os.path.abspath(args.out))
    return os.path.join(folder, "runs", os.path.splitext(name)[0])


def _checkpoint_path(args):
    return args.checkpoint or os.path.join(_run_folder(args), "checkpoint.h5")


def _samples_path(args):
    return args.samples or os.path.join(_run_folder(args), "samples")


def _check_outputs(args, task, weights):
    """Refuse, before any work, outputs that cannot be written or would destroy an input."""
    if os.path.splitext(args.out)[1].lower() not in (".h5", ".hdf5"):
        raise ValueError(f"--out {args.out}: a model is an HDF5 file; name it .h5")
    inputs = [weights, getattr(args, "style", None), getattr(args, "styles", None), args.data,
              args.sample]
    # A resumed run reads its checkpoint and then writes it again: that one is meant.
    check_outputs([args.out, _checkpoint_path(args)], inputs)
    check_output_folder(_samples_path(args), inputs + [args.out, _checkpoint_path(args)])


def _loss_weights(args, task):
    """The loss network's weight file and where it came from; (None, None) if the run needs none."""
    pixel_only = task == "super-resolution" and args.content_weight == 0
    if pixel_only:
        return None, None
    arch = "vgg19" if task in ("decoder", "adain") else "vgg16"
    if args.weights:
        return args.weights, "--weights"
    return locate_weights(arch)         # (None, ...): downloaded once by build()


def run_training(args, task):
    """``stylelab train``, ``train-sr`` and ``train-decoder`` (a task of :data:`~stylelab.johnson.tasks.TASKS`)."""
    weights, origin = _loss_weights(args, task)
    _check_outputs(args, task, weights)
    with claimed(_checkpoint_path(args)):
        _run_training(args, task, weights, origin)


def _run_training(args, task, weights, origin):
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
    if weights:
        loss_net = f"the loss network from {origin} ({weights})"
    else:
        loss_net = "no loss network" if origin is None else "the loss network (downloaded once)"
    status(args.quiet, f"train {task}: preparing {loss_net}, "
           + ("the style targets, " if task == "style" else "")
           + f"the photos in {args.data}; then {args.steps} steps")
    trainer, meta = build(task, opts, args.data, weights=weights,
                          style=getattr(args, "style", None) or getattr(args, "styles", None),
                          dtype=dtype, quiet=args.quiet)
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

    def write_sample():
        out, _ = trainer.net.forward(sample, keep_cache=False)
        save_image(os.path.join(samples, f"step_{trainer.step:06d}.png"), out[0])

    # The bar counts steps, as --steps does; created now, so its ETA starts at the first step.
    bar = tqdm(total=args.steps, initial=min(trainer.step, args.steps), unit=" step",
               disable=args.quiet, dynamic_ncols=True, desc=f"train {meta['task']}")
    start, start_step = time.perf_counter(), trainer.step
    saved = trainer.step if args.resume else None      # the step the checkpoint holds
    saved_at = start
    sampled = None
    try:
        with StopBetweenSteps() as stop:
            while trainer.step < args.steps and not stop.asked:
                trainer.train_step()
                saved_at, saved, sampled = _after_step(args, trainer, meta, ckpt_path, bar,
                                                       write_sample, saved_at, saved, sampled)
            if stop.asked:          # Ctrl-C: the step it came in has finished; keep it
                trainer.save(ckpt_path, meta)
                saved = trainer.step
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        print(f"stylelab: interrupted at step {trainer.step}; "
              f"{_checkpoint_state(ckpt_path, saved, args)}", file=sys.stderr)
        raise SystemExit(130) from None
    except NonFiniteLoss as exc:
        bar.close()
        raise NonFiniteLoss(f"{exc}; {_checkpoint_state(ckpt_path, saved, args)}") from None
    _finish(args, trainer, meta, ckpt_path, bar, write_sample, sampled, start, start_step, samples)


def _after_step(args, trainer, meta, ckpt_path, bar, write_sample, saved_at, saved, sampled):
    """The bar, and a sample and a checkpoint when their step count (or the clock) says so."""
    terms = trainer.loss.terms
    bar.set_postfix_str(f"loss {trainer.last_loss:.4g} = "
                        + " + ".join(f"{k} {v:.3g}" for k, v in terms.items())
                        + f", {trainer.batch_size} images a step"
                        + (f"; {len(trainer.data.unreadable)} unreadable"
                           if trainer.data.unreadable else ""), refresh=False)
    bar.update(1)
    if trainer.step % args.sample_every == 0:
        write_sample()
        sampled = trainer.step
    now = time.perf_counter()
    if (trainer.step % args.checkpoint_every == 0
            or now - saved_at >= 60 * args.checkpoint_minutes):
        trainer.save(ckpt_path, meta)
        saved, saved_at = trainer.step, now
    return saved_at, saved, sampled


def _finish(args, trainer, meta, ckpt_path, bar, write_sample, sampled, start, start_step,
            samples):
    bar.close()
    if sampled != trainer.step:          # every run ends with a sample of what it learnt
        write_sample()
    trainer.save(ckpt_path, meta)
    trainer.save(args.out, meta, checkpoint=False)
    seconds = time.perf_counter() - start
    done = trainer.step - start_step
    bad = trainer.data.unreadable
    print(f"{args.out}: {meta['task']} network after {trainer.step} steps "
          f"({done / max(seconds, 1e-9):.2f} steps/s, "
          f"{done * trainer.batch_size / max(seconds, 1e-9):.2f} images/s this run); "
          f"final loss {trainer.last_loss if trainer.last_loss is not None else float('nan'):.4g}"
          f"; samples in {samples}"
          + (f"; skipped {len(bad)} unreadable file(s), e.g. {sorted(bad)[0]}" if bad else ""))
    if "random weights" in meta["loss_network"]:
        print(f"stylelab: note: the loss network had random weights; this model is "
              f"not a real {meta['task']} network", file=sys.stderr)


class StopBetweenSteps:
    """Ctrl-C during training: let the step under way finish, then stop (and checkpoint).

    A training step updates the parameters and Adam's moments together; a
    KeyboardInterrupt in the middle of one would leave them out of step. The
    first Ctrl-C only sets :attr:`asked`; the loop stops after the step and
    writes the checkpoint. A second Ctrl-C stops at once, as before.
    """

    def __enter__(self):
        self.asked, self.previous = False, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        print("\nstylelab: Ctrl-C: finishing this step, then writing the checkpoint (Ctrl-C "
              "again to stop at once)", file=sys.stderr)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


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


def run_train_adain(args):
    run_training(args, "adain")


def run_train_decoder(args):
    """One decoder (``--level``, ``--out``) or a set (``--levels``, ``--out-dir``), one level at a time."""
    if args.level is not None:
        if not args.out or args.out_dir:
            raise ValueError("--level trains one decoder into --out FILE.h5 (--out-dir goes "
                             "with --levels)")
        run_training(args, "decoder")
        return
    if not args.out_dir or args.out:
        raise ValueError("--levels trains a set of decoders into --out-dir DIR (--out goes "
                         "with --level)")
    if args.checkpoint or args.samples:
        raise ValueError("--levels keeps each level's checkpoint and samples in "
                         "OUT_DIR/runs/relu{L}_1/: --checkpoint and --samples go with --level")
    for level in args.levels:
        one = argparse.Namespace(**vars(args))
        one.level, one.out = level, os.path.join(args.out_dir, f"{level_layer(level)}.h5")
        one.resume = False
        if args.resume:
            if _finished(one.out, args.steps):
                status(args.quiet, f"train-decoder: {one.out} is done ({args.steps} steps); "
                       f"kept")
                continue
            one.resume = os.path.exists(_checkpoint_path(one))
        run_training(one, "decoder")
        ckpt = _checkpoint_path(one)
        if not args.keep_checkpoints and os.path.exists(ckpt):
            size = os.path.getsize(ckpt)
            os.unlink(ckpt)
            status(args.quiet, f"train-decoder: {one.out} written; its checkpoint "
                   f"({size / 1e6:.0f} MB of parameters and Adam state) removed "
                   f"(--keep-checkpoints keeps them; samples stay in {_samples_path(one)})")


def _finished(path, steps):
    """Whether `path` holds a decoder trained for `steps` steps (a --levels run already made it)."""
    if not os.path.exists(path):
        return False
    return load_model(path)[1].get("steps") == steps
