"""The ``stylelab`` command: one subcommand per task, each in a module of its own.

The modules here only parse arguments, call the library and report; the
work is the library's. Every failure a user can cause prints one line,
``stylelab: error: ...``, and exits with status 2; nothing is left
half-written.
"""

import argparse
import contextlib
import difflib
import os
import signal
import sys
import threading
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from .. import __version__, backend
from . import adain, gatys, johnson, layers, models, training, universal, weights
from ..files.limits import one_line
from .argtypes import positive_int
from .common import INPUT_ERRORS, HelpFormatter, error_line


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations (``--mod`` is not ``--model``), and errors in one line.

    A flag that is no option is named, with the closest real one, instead of
    a page of usage (and before argparse's complaint that a required option
    is missing, which is what a misspelled required flag first looks like);
    ``--help`` still shows every option.
    """

    given = ()              # the command line being parsed (set by main, for error messages)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def options(self):
        """Every option string of this parser and of its subcommands."""
        found = set()
        for action in self._actions:
            found.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found.update(sub.options())
        return found

    def error(self, message):
        known = self.options()
        unknown = [a.split("=")[0] for a in self.given
                   if a.startswith("--") and a.split("=")[0] not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            message = (f"{unknown[0]} is not an option of {self.prog}"
                       + (f": did you mean {close[0]}?" if close else ""))
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the "
                     f"options)\n")


def build_parser():
    parser = Parser(
        prog="stylelab", description="Artistic style transfer from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"stylelab {__version__}")
    parser.add_argument("--backend", choices=["numpy", "cupy"],
                        help="where arrays live (default: $STYLELAB_BACKEND or numpy)")
    sub = parser.add_subparsers(dest="command", required=True)

    # (name, help, module's add-arguments function, its run function)
    commands = [
        ("layers", "run conv -> ReLU -> max-pool on an image with hand-made edge filters "
         "and save the feature maps", layers.add_arguments, layers.run),
        ("gatys", "Gatys et al.: paint a photo in the style of one or more paintings by "
         "optimising its pixels (L-BFGS on VGG-19 features)", gatys.add_arguments, gatys.run),
        ("train", "Johnson et al.: train a network to paint photos in one style, with "
         "perceptual losses through VGG-16", training.add_train_arguments, training.run_train),
        ("stylize", "paint images with a trained style network (one forward pass each)",
         johnson.add_stylize_arguments, johnson.run_stylize),
        ("train-sr", "train a x4 or x8 super-resolution network with the feature loss at "
         "relu2_2", training.add_train_sr_arguments, training.run_train_sr),
        ("upscale", "upscale an image with a trained super-resolution network",
         johnson.add_upscale_arguments, johnson.run_upscale),
        ("train-decoder", "Li et al.: train a decoder from VGG-19's relu{L}_1 features back "
         "to pixels, for `stylelab wct --decoders`", training.add_train_decoder_arguments,
         training.run_train_decoder),
        ("wct", "Li et al.: universal style transfer by whitening and colouring VGG-19 "
         "features, decoded by trained decoders or by L-BFGS", universal.add_arguments,
         universal.run),
        ("adain", "Huang & Belongie: arbitrary style transfer in one pass with the released "
         "AdaIN encoder and decoder", adain.add_arguments, adain.run),
        ("train-adain", "Huang & Belongie: train the relu4_1 decoder for `stylelab adain` "
         "(content and mean/std style losses through the Johnson loop)",
         training.add_train_adain_arguments, training.run_train_adain),
        ("weights", "convert or download VGG weights", weights.add_arguments, None),
        ("models", "the published style networks: list, download, convert (TensorFlow, "
         "PyTorch, Torch7)", models.add_arguments, None),
    ]
    for name, text, add_arguments, run in commands:
        p = sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        p.add_argument("--threads", type=threads_arg, default="auto",
                       help="threads for the BLAS (NumPy's matrix products, where nearly all "
                       "the time goes); auto: the cores not already busy (by the load average), "
                       "so a loaded machine is not oversubscribed")
        add_arguments(p)
        if run is not None:
            p.set_defaults(run=run)
    return parser


def threads_arg(text):
    """``--threads``: a positive whole number, or ``auto``."""
    if text == "auto":
        return text
    return positive_int(text)


def thread_limit(threads):
    """How many BLAS threads a command runs with: `threads`, or for ``auto`` the idle cores.

    A BLAS that starts one thread per core on a machine where another job
    already runs makes both slower (measured: 16-23 s for a stylize that takes
    7 s single-threaded beside a busy core). ``auto`` counts the cores the load
    average says are busy and leaves them alone; None: no limit (an idle machine).
    """
    if threads != "auto":
        return threads
    cores = os.cpu_count() or 1
    try:
        busy = int(round(os.getloadavg()[0]))
    except (AttributeError, OSError):          # no load average on this system
        return None
    return None if busy == 0 else max(1, cores - busy)


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (``kill``, a scheduler's stop) cleans up as Ctrl-C does: temporaries removed,
    the image so far written, the checkpoint kept -- not a process gone mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Warnings (NumPy's among them) as one line each, without the source line."""
    print(f"stylelab: warning: {one_line(message, 1000)}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    Parser.given = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    try:
        args = parser.parse_args(argv)
    finally:
        Parser.given = ()
    # NumPy's floating-point warnings are silenced: every output is checked for
    # NaN and infinity where it is made, and refused in one line that says where.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.showwarning = _warning_line
        try:
            if args.backend:
                backend.use(args.backend)
            else:
                backend.backend_name()  # validates $STYLELAB_BACKEND
            limit = thread_limit(getattr(args, "threads", None))
            with threadpool_limits(limits=limit, user_api="blas"), terminate_as_interrupt():
                args.run(args)
        except INPUT_ERRORS as exc:
            parser.exit(2, f"stylelab: error: {error_line(exc)}\n")
        except KeyboardInterrupt:
            parser.exit(130, "stylelab: interrupted\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
