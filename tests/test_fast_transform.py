"""The transformation network's inference engine against the network as written, and its kept memory."""

import numpy as np
import pytest

from stylelab.files.layouts import transform_net
from stylelab.layers.fast.workspace import Workspace
from stylelab.nets import fast_transform
from stylelab.nets.transform import SR_ARCH, TransformNet, transform_forward

from .reference import rel_err

SMALL = "c9s1-8,d16,d32,R32x2,u16,u8,c9s1-3"

# (label, network, batch, height, width): every stage form the engine has, in every layout
# that reaches it, on even and odd sizes.
NETWORKS = [
    ("own, nearest", lambda: TransformNet(seed=1, dtype=np.float64), 2, 17, 20),
    ("own, transpose", lambda: TransformNet(upsample="transpose", seed=1, dtype=np.float64),
     1, 16, 21),
    ("affine norm", lambda: TransformNet(norm="affine", seed=2, dtype=np.float64), 1, 16, 16),
    ("no norm", lambda: TransformNet("c9s1-8,d16,u8,c9s1-3", norm="none", seed=1,
                                     dtype=np.float64), 1, 20, 19),
    ("no norm, transpose", lambda: TransformNet("c9s1-8,d16,u8,c9s1-3", "transpose", norm="none",
                                                seed=1, dtype=np.float64), 1, 20, 18),
    ("a decoder's linear output", lambda: TransformNet("c3s1-8,d16,u8,c3s1-3", norm="none",
                                                       output="linear", in_channels=5, seed=1,
                                                       dtype=np.float64), 1, 12, 14),
    ("super-resolution x4", lambda: TransformNet(SR_ARCH[4], seed=1, dtype=np.float64), 1, 9, 12),
    ("TensorFlow's layout", lambda: transform_net(SMALL, dtype=np.float64, upsample="transpose",
                                                  padding="tf", norm_eps=1e-3, last_norm=True),
     1, 21, 18),
    ("TensorFlow's layout, even", lambda: transform_net(SMALL, dtype=np.float64,
                                                        upsample="transpose", padding="tf"),
     2, 16, 20),
    ("zero padding", lambda: transform_net(SMALL, dtype=np.float64, upsample="transpose",
                                           padding="zeros"), 1, 19, 17),
]


@pytest.mark.parametrize("label,make,n,h,w", NETWORKS, ids=[c[0] for c in NETWORKS])
def test_the_engine_equals_the_network_as_written(xp, rng, label, make, n, h, w):
    net = make()
    params = {k: xp.asarray(v) for k, v in net.params.items()}
    assert fast_transform.supports(net.stages, net.options, net.layout)
    x = xp.asarray(rng.random((n, h, w, net.in_channels)))
    ref, _ = transform_forward(x, params, net.arch, net.options, True, "readable", net.layout)
    work = Workspace()
    y, cache = transform_forward(x, params, net.arch, net.options, False, "fast", net.layout, work)
    assert cache is None and y.shape == ref.shape and y.dtype == ref.dtype
    assert rel_err(y, ref) <= 1e-12
    assert work.nbytes > 0
    if xp is np:            # the output is the caller's: none of the workspace's memory
        assert not any(np.shares_memory(y, b) for b in work.buffers.values())


def test_a_second_image_reuses_the_memory_and_leaves_the_first_alone(rng):
    net = transform_net(SMALL, upsample="transpose", padding="tf", norm_eps=1e-3, last_norm=True)
    a, b = (rng.random((20, 24, 3)).astype(np.float32) for _ in range(2))
    ya = net.apply(a)
    kept = ya.copy()
    buffers = dict(net.workspace.buffers)
    yb = net.apply(b)
    assert np.array_equal(ya, kept)                    # the first result is not overwritten
    assert net.workspace.buffers.keys() == buffers.keys()
    assert all(net.workspace.buffers[r] is buffers[r] for r in buffers)   # no new memory
    assert np.array_equal(net.apply(a), kept)          # nothing left over changes a later call
    assert not np.array_equal(yb, kept)


def test_the_workspace_is_let_go_above_its_limit(rng):
    net = TransformNet("c9s1-8,d16,R16,u8,c9s1-3", seed=0)
    net.apply(rng.random((16, 16, 3)).astype(np.float32))
    assert net.workspace.nbytes > 0
    net.scratch_limit = 0
    net.apply(rng.random((16, 16, 3)).astype(np.float32))
    assert net.workspace.nbytes == 0


def test_torch7s_unpadded_blocks_run_as_written(rng):
    # Johnson's release crops its residual blocks: no fast form here, the same numbers.
    net = transform_net("c9s1-8,d16,R16,u8,c9s1-3", dtype=np.float64, upsample="transpose",
                        padding="zeros", residual="valid", input_pad=8)
    assert not fast_transform.supports(net.stages, net.options, net.layout)
    x = rng.random((1, 16, 16, 3))
    ref, _ = transform_forward(x, net.params, net.arch, net.options, True, "readable", net.layout)
    assert rel_err(net.forward(x, keep_cache=False)[0], ref) <= 1e-12
    assert net.workspace.nbytes == 0


def test_the_workspace_grows_and_keeps_its_largest(rng):
    work = Workspace()
    small = work.empty("a", (2, 3), np.float64, np)
    big = work.empty("a", (4, 5), np.float64, np)
    again = work.empty("a", (2, 3), np.float64, np)
    assert not np.shares_memory(small, big) and np.shares_memory(big, again)
    assert work.nbytes == 20 * 8 and again.flags.c_contiguous
    work.empty("a", (2, 3), np.float32, np)                # another dtype: a buffer of its own
    assert work.buffers["a"].dtype == np.float32
    work.clear()
    assert work.nbytes == 0


def test_threads_sharing_a_network_get_the_same_pictures(rng):
    # A Dask worker with several threads shares one network: a thread that finds the kept
    # workspace busy computes in one of its own, and every picture is the serial one.
    from concurrent.futures import ThreadPoolExecutor
    net = transform_net(SMALL, upsample="transpose", padding="tf")
    images = [rng.random((24, 20, 3)).astype(np.float32) for _ in range(8)]
    serial = [net.apply(img).copy() for img in images]
    kept = dict(net.workspace.buffers)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert all(np.array_equal(a, b) for a, b in zip(pool.map(net.apply, images), serial))
    with net._in_workspace:                 # another thread is inside: this call keeps out
        assert np.array_equal(net.apply(images[0]), serial[0])
    assert all(net.workspace.buffers[r] is kept[r] for r in kept)


def test_a_profile_times_every_kernel_and_the_norms(rng):
    from stylelab.profile import Profile
    net = transform_net(SMALL, upsample="transpose", padding="tf", last_norm=True)
    net.profile = Profile()
    net.apply(rng.random((24, 20, 3)).astype(np.float32))
    calls = net.profile.calls
    # c9s1-8 and, from 8 channels, c9s1-3 (row taps); d16 d32 (phases); R32x2 (4 shifted);
    # u16 u8 (transposed)
    assert calls["conv (row_taps)"] == 2 and calls["conv (phases)"] == 2
    assert calls["conv (shifted)"] == 4 and calls["transposed conv (phases, gathered)"] == 2
    assert calls["output map"] == 1
    assert calls["norm, ReLU, shortcut"] == 10          # every conv's, the last one's too
    assert calls["borders"] == 8                        # every conv's input but the transposed
    own = TransformNet("c9s1-8,d16,R16,u16,c9s1-3", seed=0)
    own.profile = Profile()
    own.apply(rng.random((16, 16, 3)).astype(np.float32))
    assert own.profile.calls["upsample conv (four 2x2 convs)"] == 1
    assert own.profile.calls["conv (few_filters)"] == 1      # 16 -> 3: few filters
