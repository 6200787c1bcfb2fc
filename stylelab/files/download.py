"""Downloads: VGG files (``stylelab weights download``), and the fetch every download uses.

``vgg19`` (what the commands fetch on first use) is Caffe's VGG-19 as
neural-style-pt converted it to ``.pth``, the weights the published
neural-style pictures were made with; ``vgg19-torchvision`` is torchvision's.
``vgg16`` stays torchvision's (the loss network the training defaults were
set with); ``vgg16-caffe`` is neural-style-pt's. Both sources name
their files ``<arch>-<first hex digits of the sha256>.pth``; the download is
checked against that prefix before it is converted into the user cache
(``$XDG_CACHE_HOME/stylelab/<arch>.h5``, default ``~/.cache/stylelab``).
Nothing half-downloaded or unchecked is ever left in the cache.
"""

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request

from .atomic import new_temp, sweep_stale_temps
from .convert import convert_vgg
from .limits import one_line

NEURAL_STYLE_PT = "https://web.eecs.umich.edu/~justincj/models/"
TORCHVISION = "https://download.pytorch.org/models/"
# name: (address, architecture, family)
URLS = {
    "vgg19": (NEURAL_STYLE_PT + "vgg19-d01eb7cb.pth", "vgg19", "caffe"),
    "vgg19-torchvision": (TORCHVISION + "vgg19-dcbb9e9d.pth", "vgg19", "torchvision"),
    "vgg16": (TORCHVISION + "vgg16-397923af.pth", "vgg16", "torchvision"),
    "vgg16-caffe": (NEURAL_STYLE_PT + "vgg16-00b39a1b.pth", "vgg16", "caffe"),
}
MAX_VGG_BYTES = 1 << 30         # torchvision's VGG-19 is 548 MB


def cache_dir():
    """``$XDG_CACHE_HOME/stylelab``, or ``~/.cache/stylelab``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stylelab")


def writable_folder(folder):
    """Make `folder` (a cache) if needed, and refuse in one line one that cannot be written."""
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"cannot write the cache folder {folder} ({reason.lower()}); point "
                         f"$XDG_CACHE_HOME at a writable folder") from None
    return folder


def cached_weights(arch="vgg19"):
    """The path of the converted `arch` in the cache, or None if it isn't there."""
    path = os.path.join(cache_dir(), f"{arch}.h5")
    return path if os.path.isfile(path) else None


READ_TIMEOUT = 30          # seconds a server may stay silent
MIN_RATE = 16 << 10        # bytes per second a download must average, once it has had
GRACE_SECONDS = 30         # this long to start


def fetch(url, dest, progress=True, limit=None):
    """Stream `url` into the open binary file `dest`; return the hex SHA-256 of the bytes.

    Parameters
    ----------
    url : str
    dest : file object
    progress : bool
        A progress bar (bytes, with the total when the server says it).
    limit : int, optional
        Refuse to receive more than this many bytes (a download is untrusted
        too: a server can send anything).

    Raises
    ------
    ValueError
        The connection broke, the server sent more than `limit`, fewer bytes
        than it announced, bytes that are not HTTP, or fewer than
        :data:`MIN_RATE` a second on average after :data:`GRACE_SECONDS`.
    """
    try:
        return _fetch(url, dest, progress, limit)
    except http.client.HTTPException as exc:   # a status line, chunk or header that is not HTTP
        raise ValueError(f"{url}: the server's answer is not valid HTTP ({type(exc).__name__}"
                         f"{': ' + one_line(exc, 100) if str(exc) else ''})") from None


def _fetch(url, dest, progress, limit):
    from tqdm import tqdm
    digest = hashlib.sha256()
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=READ_TIMEOUT) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        if limit is not None and total is not None and total > limit:
            raise ValueError(f"{url} is {total} bytes, more than the {limit} expected")
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1][:40],
                  disable=not progress) as bar:
            while True:
                # read1: what has arrived, at once -- read(n) would wait for all n bytes, and a
                # server trickling a byte every 20 s never lets a per-read timeout fire.
                chunk = response.read1(1 << 20)
                elapsed = time.monotonic() - start
                if elapsed > GRACE_SECONDS and received < MIN_RATE * elapsed:
                    raise ValueError(f"{url} sent {received} bytes in {elapsed:.0f} s, under the "
                                     f"{MIN_RATE // 1024} KiB/s a download must keep; stopped")
                if not chunk:
                    break
                received += len(chunk)
                if limit is not None and received > limit:
                    raise ValueError(f"{url} sent more than the {limit} bytes expected")
                dest.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise ValueError(f"the connection broke after {received} of {total} bytes")
    return digest.hexdigest()


def offline_help(url, name, convert_command):
    """The message for a failed download: what to fetch elsewhere, and the command that converts it."""
    return (f"Offline? On a machine with internet, download {name} from {url}, copy it here "
            f"and run `{convert_command}`")


def download_vgg(arch="vgg19", url=None, progress=True):
    """Download, check and convert VGG weights into the cache.

    Parameters
    ----------
    arch : {"vgg19", "vgg19-torchvision", "vgg16", "vgg16-caffe"}
        Which file (see the module notes); each is cached as
        ``<cache>/vgg19.h5`` (or ``vgg16.h5``).
    url : str, optional
        Where to fetch from (default: the official address). Its file name
        must carry the sha256 prefix, as the published ones do.
    progress : bool
        Show a progress bar.

    Returns
    -------
    path : str
        The converted ``<cache>/<arch>.h5``.
    """
    if arch not in URLS:
        raise ValueError(f"unknown weights {arch!r}: expected one of {', '.join(URLS)}")
    default_url, arch, family = URLS[arch]
    url = url or default_url
    match = re.search(r"-([0-9a-f]{6,64})\.pth$", url)
    if not match:
        raise ValueError(f"{url}: the file name carries no hash prefix to check "
                         f"(expected NAME-<hex>.pth)")
    folder = writable_folder(cache_dir())
    dst = os.path.join(folder, f"{arch}.h5")
    sweep_stale_temps(folder)
    tmp = new_temp(folder, ".pth")
    try:
        with open(tmp, "wb") as f:
            try:
                sha = fetch(url, f, progress, limit=MAX_VGG_BYTES)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                name = url.rsplit("/", 1)[-1]
                raise ValueError(f"could not download {url} ({reason}). " + offline_help(
                    url, name, f"stylelab weights convert {name} "
                    f"{os.path.join(cache_dir(), arch + '.h5')}")) from None
            except ValueError:
                raise
            except Exception as exc:  # http.client.IncompleteRead and friends
                raise ValueError(f"download of {url} failed: {exc}") from None
        if not sha.startswith(match.group(1)):
            raise ValueError(f"{url}: hash mismatch: the file's sha256 is {sha[:16]}..., "
                             f"its name promises {match.group(1)}...; nothing was saved")
        try:
            convert_vgg(tmp, dst, source_name=url.rsplit("/", 1)[-1], sha256=sha,
                        expect_arch=arch, convention=family)
        except ValueError as exc:            # name what was downloaded, not where it waited
            raise ValueError(str(exc).replace(tmp, url)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst
