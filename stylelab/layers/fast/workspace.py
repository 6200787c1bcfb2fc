"""Working memory that outlives a call: an inference's arrays without fresh pages.

A new array is not free. The operating system hands out memory a page
(4 KiB) at a time, on first touch, and NumPy returns large arrays to it when
they are freed; so a 134 MB activation costs some 33 000 page faults every
time a network makes it (at 1024 px, hundreds of milliseconds per call, and
more when the kernel looks for huge pages). A network that runs again and
again on images of one size can instead keep its arrays.

A :class:`Workspace` keeps one flat buffer per *role* -- a name for one use
of memory, such as "the rearranged input of a kernel" -- as large as the
largest request so far, and hands out the front of it as an array of the
shape asked for. Two arrays of one role must never be alive at once: each
kernel names its roles, and a caller gives one role to uses that follow
each other (every stage's activation in turn, a stride-2 conv's phases and
then a transposed conv's sums).

The kernels take ``work=None``: without a workspace each request is a new
array (:func:`scratch`), as before.
"""

from ...backend import get_array_module

KERNEL_INPUT = "kernel input"      # a kernel's rearranged copy of its input (phases, row taps)
KERNEL_OUTPUT = "kernel output"    # a kernel's products before they land in the result


class Workspace:
    """Flat buffers by role, each as large as its largest request; reused from call to call.

    >>> import numpy as np
    >>> work = Workspace()
    >>> a = work.empty("grid", (2, 3), np.float32, np)
    >>> b = work.empty("grid", (1, 4), np.float32, np)       # the same memory, a new shape
    >>> np.shares_memory(a, b), work.nbytes
    (True, 24)
    """

    def __init__(self):
        self.buffers = {}

    def empty(self, role, shape, dtype, xp):
        """An uninitialised C-contiguous array of `shape`, at the front of `role`'s buffer."""
        size = 1
        for s in shape:
            size *= int(s)
        buf = self.buffers.get(role)
        if (buf is None or buf.size < size or buf.dtype != dtype
                or get_array_module(buf) is not xp):
            self.buffers[role] = buf = None       # let go of the old one before the new one
            buf = self.buffers[role] = xp.empty(max(size, 1), dtype=dtype)
        return buf[:size].reshape(shape)

    @property
    def nbytes(self):
        """The bytes the workspace holds."""
        return sum(b.nbytes for b in self.buffers.values())

    def clear(self):
        """Let go of every buffer."""
        self.buffers = {}


def scratch(work, role, shape, dtype, xp):
    """`role`'s array from `work`, or a new one when there is no workspace (``work=None``)."""
    if work is None:
        return xp.empty(shape, dtype=dtype)
    return work.empty(role, shape, dtype, xp)
