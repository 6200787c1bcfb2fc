"""Training images from any folder: square crops in a reproducible order.

Johnson et al. trained on COCO's 80k photos at 256x256; here ``--data`` is
any folder of images. Each epoch visits every file once in an order drawn
from ``(seed, epoch)``, and each crop's position from ``(seed, epoch, i)``,
so the stream of batches is a function of one number, the **cursor** (how
many files have been drawn so far). A checkpoint stores the cursor, and a
resumed run draws exactly the batches the interrupted one would have.

Files that cannot be read (not images, too large, NaN pixels: see
:func:`stylelab.files.images.read_image`) are skipped and counted, never
fatal; the batch is filled from the next files in the order.
"""

import os

import numpy as np
from PIL import Image

from ..backend import asarray
from ..files.images import read_image, resize_image

IMAGE_EXTENSIONS = frozenset(Image.registered_extensions())


class DataError(ValueError):
    """The folder holds no usable images."""


def list_images(root, what="--data"):
    """Every file under `root` (recursively) whose extension Pillow knows, sorted.

    `what` names the folder in the errors (the option it came from).
    """
    if not os.path.isdir(root):
        raise DataError(f"{what} {root}: no such folder")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [os.path.join(folder, f) for f in sorted(files)
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    if not found:
        raise DataError(f"{what} {root}: no image files in it (looked for "
                        f".jpg, .png and the other extensions Pillow reads)")
    return found


def random_crop(img, size, rng):
    """Scale `img` (H, W, 3) so its short side is `size`, then cut a random size x size square."""
    h, w = img.shape[:2]
    scale = size / min(h, w)
    h2, w2 = max(size, round(h * scale)), max(size, round(w * scale))
    img = resize_image(img, h2, w2)
    top, left = rng.integers(0, h2 - size + 1), rng.integers(0, w2 - size + 1)
    return img[top:top + size, left:left + size]


class ImageFolder:
    """A folder of images as an endless, reproducible stream of square crops.

    Parameters
    ----------
    root : str
    size : int
        Side of the crops (256 in the paper).
    seed : int
    dtype : float dtype

    Attributes
    ----------
    files : list of str
    unreadable : set of str
        The files that could not be read so far.
    """

    def __init__(self, root, size=256, seed=0, dtype=np.float32):
        self.files = list_images(root)
        self.size, self.seed, self.dtype = size, seed, np.dtype(dtype)
        self.unreadable = set()
        self._epoch_order = (None, None)

    def _order(self, epoch):
        """The epoch's file order (kept for the epoch: drawn once, not once per crop)."""
        if self._epoch_order[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.files))
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def crop(self, cursor):
        """The crop the stream holds at `cursor` (H, W, 3) on the host, or None if unreadable."""
        n = len(self.files)
        epoch, i = divmod(cursor, n)
        path = self.files[self._order(epoch)[i]]
        if path in self.unreadable:
            return None
        try:
            img = read_image(path, self.dtype, shortest=self.size)
        except ValueError:                            # not an image, too large, NaN pixels
            self.unreadable.add(path)
            return None
        return random_crop(img, self.size, np.random.default_rng([self.seed, epoch, i]))

    def first_crop(self):
        """The first readable crop in epoch 0's order (the default training sample)."""
        for cursor in range(len(self.files)):
            img = self.crop(cursor)
            if img is not None:
                return img
        raise self._none_readable()

    def _none_readable(self):
        return DataError(f"none of the {len(self.files)} image files could be read "
                         f"(e.g. {sorted(self.unreadable)[0]})")

    def batch(self, cursor, batch_size):
        """The next `batch_size` crops from `cursor`, skipping unreadable files.

        Returns
        -------
        batch : ndarray of shape (batch_size, size, size, 3) on the current backend
        cursor : int
            Where the next batch starts.
        """
        crops, tried = [], 0
        while len(crops) < batch_size:
            c = self.crop(cursor)
            cursor += 1
            tried += 1
            if c is not None:
                crops.append(c)
            elif tried >= len(self.files) and not crops and \
                    len(self.unreadable) == len(self.files):
                raise self._none_readable()
        return asarray(np.stack(crops)), cursor
