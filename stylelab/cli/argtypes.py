"""argparse types shared by the commands: a bad value gets argparse's one-line error."""

import argparse
import math

from ..universal.cascade import check_levels


def positive_int(text):
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative_float(text):
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_float(text):
    """A finite number > 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def level_list(text):
    """``"5,4,3"`` -> (5, 4, 3): distinct levels of Li et al.'s cascade, coarse to fine."""
    try:
        return check_levels(int(t) for t in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (got {text!r})") from None


def alpha_arg(text):
    """``--alpha``: a number (the command checks it is at most 1), or a range ``LOW:HIGH``
    to draw each photo's alpha from (with ``--seed``).

    >>> alpha_arg("0.5"), alpha_arg("0.25:1")
    (0.5, (0.25, 1.0))
    """
    if ":" not in text:
        return non_negative_float(text)
    low, _, high = text.partition(":")
    try:
        low, high = non_negative_float(low), non_negative_float(high)
    except argparse.ArgumentTypeError:
        low = high = -1.0
    if not 0 <= low < high <= 1:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH with 0 <= LOW < HIGH <= 1, "
                                         f"got {text!r}")
    return low, high
