"""Every fast path against the readable reference it replaces.

The conv layer's reference is im2col + one GEMM (itself checked against the
seed's loops and PyTorch in test_conv.py). The fast paths: the kernels of
stylelab.layers.fast -- each forced onto every shape, not only the ones the
dispatch table sends it --, Winograd F(2x2, 3x3), the four-phase upsample-conv,
BLAS products with transposes and in-place accumulation, pooling from stored
winners, and VGG's fast engine.
"""

import numpy as np
import pytest

from stylelab import layers
from stylelab.backend import get_array_module
from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.layers import fast
from stylelab.layers.fast import few_filters, pool_winners, row_taps, shifted, winograd
from stylelab.layers.fast.blas import gemm_accumulate, matmul
from stylelab.layers.fast.taps import conv_taps, flip_swap
from stylelab.layers.fast.workspace import KERNEL_INPUT, KERNEL_OUTPUT, Workspace

from .reference import rel_err


def reference_conv(x, w, b=None, **kw):
    """im2col + GEMM ('same' zero padding unless told), no bias unless given."""
    b = get_array_module(x).zeros(w.shape[0], x.dtype) if b is None else b
    return layers.conv2d_forward(x, w, b, **kw)


# (N, H, W, C, F, K): few and many channels and filters, odd sizes, 1x1 to 9x9 kernels.
SHAPES = [(2, 7, 9, 3, 5, 3), (1, 6, 5, 17, 20, 3), (2, 5, 8, 4, 3, 5), (1, 9, 7, 18, 2, 1),
          (2, 11, 10, 3, 4, 9), (1, 4, 4, 16, 4, 3)]


@pytest.mark.parametrize("kernel", ["row_taps", "few_filters", "shifted", "phases"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_conv_kernel_equals_im2col_on_every_shape(xp, rng, kernel, shape):
    n, h, w_, c, f, k = shape
    stride = 2 if kernel == "phases" else 1
    x = xp.asarray(rng.standard_normal((n, h, w_, c)))
    w, b = xp.asarray(rng.standard_normal((f, k, k, c))), xp.asarray(rng.standard_normal(f))
    ref, cache = reference_conv(x, w, b, stride=stride, pad_mode="reflect" if k < h else "zeros")
    xpad = cache[0]
    assert rel_err(fast.correlate(xpad, w, b, stride, kernel=kernel), ref) <= 1e-13
    dy = xp.asarray(rng.standard_normal(ref.shape))
    dx_ref, dw_ref, _ = layers.conv2d_backward(dy, cache)
    if kernel == "phases":
        dxpad = fast.phases.input_gradient(dy, xpad.shape, w)
        assert rel_err(layers.pad2d_backward(dxpad, cache[3]), dx_ref) <= 1e-13
        dw = fast.phases.filter_gradient(dy, xpad, w)
    elif kernel in ("row_taps", "shifted"):
        dw = (row_taps if kernel == "row_taps" else shifted).filter_gradient(xpad, dy, k)
    else:
        return            # few_filters has no filter gradient of its own
    assert rel_err(dw, dw_ref) <= 1e-13


def test_the_input_gradient_is_a_correlation_with_flipped_swapped_filters(xp, rng):
    # dx of a 'same' 3x3 layer = dy padded by 1, correlated with flip_swap(w): by every kernel.
    x = xp.asarray(rng.standard_normal((2, 6, 8, 5)))           # even: Winograd takes it too
    w = xp.asarray(rng.standard_normal((4, 3, 3, 5)))
    _, cache = reference_conv(x, w)
    dy = xp.asarray(rng.standard_normal((2, 6, 8, 4)))
    dx_ref = layers.conv2d_backward(dy, cache, weight_grads=False)[0]
    assert flip_swap(w).shape == (5, 3, 3, 4)
    assert float(flip_swap(w)[2, 0, 1, 3]) == float(w[3, 2, 1, 2])
    dypad, _ = layers.pad2d_forward(dy, 1)
    for kernel in ("row_taps", "few_filters", "shifted"):
        assert rel_err(fast.correlate(dypad, flip_swap(w), kernel=kernel), dx_ref) <= 1e-13
    assert rel_err(winograd.correlate(dypad, winograd.winograd_backward_taps(w)), dx_ref) <= 1e-13


def test_the_dispatch_table():
    assert fast.kernel_for(1, 256, 256) == "winograd"
    assert fast.kernel_for(1, 256, 256, even=False) == fast.kernel_for(1, 128, 256) == "shifted"
    assert fast.kernel_for(1, 512, 512, k=5) == "shifted"
    assert fast.kernel_for(1, 3, 64) == "row_taps"
    assert fast.kernel_for(1, 64, 3) == "few_filters"
    assert fast.kernel_for(1, 64, 64) == "shifted"
    assert fast.kernel_for(2, 3, 64) == "phases"
    with pytest.raises(ValueError, match="stride 1 or 2, got stride 3"):
        fast.kernel_for(3, 8, 8)
    with pytest.raises(ValueError, match="the shifted kernel needs stride 1"):
        fast.correlate(np.zeros((1, 5, 5, 2)), np.zeros((2, 3, 3, 2)), stride=2, kernel="shifted")
    with pytest.raises(ValueError, match="unknown kernel 'fft'"):
        fast.correlate(np.zeros((1, 5, 5, 2)), np.zeros((2, 3, 3, 2)), kernel="fft")


def test_a_layer_with_many_channels_goes_through_winograd_with_its_bias(rng):
    x = rng.standard_normal((1, 4, 6, 256))
    w, b = rng.standard_normal((256, 3, 3, 256)) / 50, rng.standard_normal(256)
    ref, cache = reference_conv(x, w, b)
    assert rel_err(fast.correlate(cache[0], w, b, kernel="winograd"), ref) <= 1e-13
    y, _ = fast.conv2d_forward(x, w, b)                    # the table picks Winograd
    assert rel_err(y, ref) <= 1e-13


@pytest.mark.parametrize("block_rows", [None, 1, 7, 50],
                         ids=["one block", "a row a block", "blocks ending inside rows",
                              "blocks and a remainder"])
@pytest.mark.parametrize("kernel", ["shifted", "row_taps"])
@pytest.mark.parametrize("relu,bordered", [(False, False), (True, True)])
def test_shifted_and_row_taps_in_blocks_equal_the_reference(rng, kernel, block_rows, relu,
                                                            bordered):
    # The shared block loop (shifted.accumulate) with the block size given: several blocks and a
    # last, partial one (2 * 9 * 11 = 198 grid rows, 174 computed) must all be written.
    x = rng.standard_normal((2, 7, 9, 5))
    w, b = rng.standard_normal((6, 3, 3, 5)), rng.standard_normal(6)
    xpad, _ = layers.pad2d_forward(x, 1)
    buf = np.full((2, 9, 11, 6), np.nan)
    if kernel == "shifted":
        y = shifted.correlate(xpad, conv_taps(w), 3, bias=b, out=buf, relu=relu,
                              bordered=bordered, block_rows=block_rows)
    else:
        y = row_taps.correlate(xpad, w, bias=b, out=buf, relu=relu, bordered=bordered,
                               block_rows=block_rows)
    ref = reference_conv(x, w, b)[0]
    assert rel_err(y, np.maximum(ref, 0) if relu else ref) <= 1e-13


def test_row_blocks_cover_every_row_once():
    for length, step in [(174, 7), (174, 50), (174, 174), (174, 1000), (1, 3)]:
        blocks = shifted.row_blocks(length, 8, block_rows=step)
        assert blocks[0][0] == 0 and blocks[-1][1] == length
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(blocks, blocks[1:]))
    # By default: about BLOCK_BYTES of output a block, never fewer than MIN_BLOCK_ROWS rows.
    assert shifted.row_blocks(10 ** 5, 512)[0] == (0, shifted.BLOCK_BYTES // 512)
    assert shifted.row_blocks(10 ** 5, 4096)[0] == (0, shifted.MIN_BLOCK_ROWS)


def test_few_filters_in_chunks_equal_the_reference(rng):
    xpad = rng.random((2, 9, 12, 17))
    w, b = rng.standard_normal((3, 5, 5, 17)), rng.standard_normal(3)
    ref = reference_conv(xpad, w, b, padding=0)[0]
    for chunk in (7, 50, 1 << 16):           # chunks end inside rows, and one chunk
        assert rel_err(few_filters.correlate(xpad, w, b, chunk=chunk), ref) <= 1e-13


@pytest.mark.parametrize("shape", [(1, 4, 6, 5, 7), (2, 8, 2, 3, 4), (1, 10, 10, 16, 9)])
@pytest.mark.parametrize("band_tiles", [None, 1, 7], ids=["one band", "a tile row a band",
                                                                       "bands and a remainder"])
def test_winograd_equals_the_reference(xp, rng, shape, band_tiles):
    n, h, w_, c, f = shape
    x = xp.asarray(rng.standard_normal((n, h, w_, c)))
    w = xp.asarray(rng.standard_normal((f, 3, 3, c)))
    xpad, _ = layers.pad2d_forward(x, 1)
    got = winograd.correlate(xpad, winograd.winograd_taps(w), band_tiles=band_tiles)
    assert rel_err(got, reference_conv(x, w)[0]) <= 1e-13


def test_winograd_taps_are_g_g_gt(rng):
    """``U[4i+j][c, f] = (G g G^T)[i, j]`` for each filter g = w[f, :, :, c], written out as the formula."""
    w = rng.standard_normal((3, 3, 3, 2))
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    u = winograd.winograd_taps(w)
    for f in range(3):
        for c in range(2):
            t = g @ w[f, :, :, c] @ g.T
            assert rel_err(u[:, c, f], t.reshape(16)) <= 1e-15


def test_winograd_refuses_odd_sizes_and_other_kernels(rng):
    with pytest.raises(ValueError, match="even output size, got 5x4"):
        winograd.correlate(np.zeros((1, 7, 6, 2)), winograd.winograd_taps(np.zeros((3, 3, 3, 2))))
    with pytest.raises(ValueError, match="needs 3x3 filters"):
        winograd.winograd_taps(np.zeros((3, 5, 5, 2)))


@pytest.mark.parametrize("kernel", ["shifted", "row_taps"])
def test_kernels_write_inside_a_border_with_the_relu_applied(rng, kernel):
    """``bordered=True``: the output lands inside the buffer's 1-pixel border (the spare
    columns and the rows between images fall on that border), ReLU applied."""
    x = rng.standard_normal((2, 5, 6, 4))
    w = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal(3)
    xpad, _ = layers.pad2d_forward(x, 1)
    buf = np.full((2, 7, 8, 3), np.nan)
    y = (shifted.correlate(xpad, conv_taps(w), 3, bias=b, out=buf, relu=True, bordered=True)
         if kernel == "shifted" else row_taps.correlate(xpad, w, bias=b, out=buf, relu=True,
                                                        bordered=True))
    assert np.shares_memory(y, buf) and y.shape == (2, 5, 6, 3)
    assert rel_err(buf[:, 1:-1, 1:-1], np.maximum(reference_conv(x, w, b)[0], 0)) <= 1e-13


@pytest.mark.parametrize("kernel", ["shifted", "row_taps"])
def test_kernels_write_into_a_given_buffer(rng, kernel):
    x = rng.standard_normal((2, 5, 6, 4))
    w = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal(3)
    xpad, _ = layers.pad2d_forward(x, 1)
    grid = np.full((2, 7, 8, 3), np.nan)            # garbage in: all of it must be written
    y = (shifted.correlate(xpad, conv_taps(w), 3, bias=b, out=grid) if kernel == "shifted"
         else row_taps.correlate(xpad, w, bias=b, out=grid))
    assert np.shares_memory(y, grid)
    assert rel_err(y, reference_conv(x, w, b)[0]) <= 1e-13


@pytest.mark.parametrize("band_rows", [1, 2, 3, None], ids=["a row a band", "two rows a band",
                                                       "bands and a remainder", "one band"])
@pytest.mark.parametrize("shape", [(2, 7, 9, 3, 5, 3), (1, 8, 6, 5, 4, 3), (1, 11, 12, 4, 3, 5)],
                         ids=lambda s: "x".join(map(str, s)))
def test_phases_band_by_band_in_a_workspace_equal_the_reference(xp, rng, shape, band_rows):
    # The stride-2 kernel makes its phases a band of output rows at a time, in a workspace
    # whose old contents are junk: odd and even sides, a 5x5 kernel (two rows of reach).
    n, h, w_, c, f, k = shape
    xpad = xp.asarray(rng.standard_normal((n, h, w_, c)))
    w, b = xp.asarray(rng.standard_normal((f, k, k, c))), xp.asarray(rng.standard_normal(f))
    ref = reference_conv(xpad, w, b, stride=2, padding=0)[0]
    work = Workspace()
    for role in (KERNEL_INPUT, KERNEL_OUTPUT):
        work.empty(role, (4096,), xpad.dtype, xp)[...] = xp.inf
    for _ in range(2):                                   # and again, in the used memory
        with np.errstate(invalid="raise"):               # no junk in the products (the stand-in's
            y = fast.phases.correlate(xpad, w, b, work=work, band_rows=band_rows)   # are NumPy's)
        assert rel_err(y, ref) <= 1e-13
    big = xp.zeros((n, h, w_ + 3, c))
    big[:, :, 1:1 + w_] = xpad                           # the input as a view with gaps
    assert rel_err(fast.phases.correlate(big[:, :, 1:1 + w_], w, b, band_rows=band_rows),
                   ref) <= 1e-13


@pytest.mark.parametrize("band_rows", [1, 30, None])
def test_row_taps_band_by_band_in_a_workspace_equal_the_reference(rng, band_rows):
    xpad = rng.standard_normal((2, 9, 12, 3))
    w, b = rng.standard_normal((6, 5, 5, 3)), rng.standard_normal(6)
    ref = reference_conv(xpad, w, b, padding=0)[0]
    work = Workspace()
    work.empty(KERNEL_INPUT, (4096,), xpad.dtype, np)[...] = np.nan
    for _ in range(2):
        y = row_taps.correlate(xpad, w, bias=b, band_rows=band_rows, work=work)
        assert rel_err(y, ref) <= 1e-13
    assert np.array_equal(row_taps.row_taps(xpad, 5, 7, 40), row_taps.row_taps(xpad, 5)[7:40])


@pytest.mark.parametrize("crop", [(0, 0, 0, 0), (0, 1, 0, 1), (1, 1, 1, 1), (1, 0, 0, 1)])
def test_the_transposed_conv_writes_into_a_given_view(xp, rng, crop):
    # phases.input_gradient into the inside of a larger buffer, its sums in a used workspace.
    dy = xp.asarray(rng.standard_normal((2, 4, 5, 6)))
    w = xp.asarray(rng.standard_normal((6, 3, 3, 3)))
    padded = (2, 9, 11, 3)
    top, bottom, left, right = crop
    ref = fast.phases.input_gradient(dy, padded, w)[:, top:9 - bottom, left:11 - right]
    assert rel_err(layers.pad2d_backward(fast.phases.input_gradient(dy, padded, w),
                                         (crop, "zeros")), ref) <= 1e-15
    buf = xp.full((2, 13, 15, 3), xp.nan)
    inside = buf[:, 2:2 + ref.shape[1], 2:2 + ref.shape[2]]
    work = Workspace()
    work.empty(KERNEL_INPUT, (4096,), dy.dtype, xp)[...] = xp.nan
    work.empty(KERNEL_OUTPUT, (4096,), dy.dtype, xp)[...] = xp.nan
    out = fast.phases.input_gradient(dy, padded, w, crop=crop, out=inside, work=work)
    assert out is inside and rel_err(inside, ref) <= 1e-15
    assert bool(xp.isnan(buf[:, :2]).all()) and bool(xp.isnan(buf[:, :, -2:]).all())
    with pytest.raises(ValueError, match="out must have shape"):
        fast.phases.input_gradient(dy, padded, w, crop=crop, out=buf)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "edge"])
@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 1, 0, 1), (4, 4, 4, 4), (2, 0, 3, 1)])
def test_filling_a_border_in_place_equals_padding(xp, rng, mode, pads):
    x = xp.asarray(rng.standard_normal((2, 6, 7, 3)))
    ref, _ = layers.pad2d_forward(x, pads, mode)
    top, _, left, _ = pads
    buf = xp.asarray(rng.standard_normal(ref.shape))      # junk where the border goes
    buf[:, top:top + 6, left:left + 7] = x
    assert layers.fill_border(buf, pads, mode) is buf
    assert bool((buf == ref).all())


def test_filling_a_border_refuses_what_padding_refuses():
    with pytest.raises(ValueError, match="reflect padding"):
        layers.fill_border(np.zeros((1, 5, 5, 1)), 2, "reflect")     # a 1x1 interior
    with pytest.raises(ValueError, match="pad_mode must be one of"):
        layers.fill_border(np.zeros((1, 5, 5, 1)), 1, "wrap")


@pytest.mark.parametrize("shape,filters", [((2, 5, 7, 4), 3), ((1, 6, 6, 17), 20), ((1, 1, 3, 2), 5)])
def test_upsample_conv_equals_upsample_then_conv(xp, rng, shape, filters):
    """The four-phase 2x2 form against the composition it replaces, forward and backward."""
    x = xp.asarray(rng.standard_normal(shape))
    w = xp.asarray(rng.standard_normal((filters, 3, 3, shape[3])))
    b = xp.asarray(rng.standard_normal(filters))
    y, cache = fast.upsample_conv_forward(x, w, b)
    y_ref, ref_cache = layers.upsample_conv_forward(x, w, b)
    assert rel_err(y, y_ref) <= 1e-13
    dy = xp.asarray(rng.standard_normal(y.shape))
    for ours, ref in zip(fast.upsample_conv_backward(dy, cache),
                         layers.upsample_conv_backward(dy, ref_cache)):
        assert ours.shape == ref.shape and rel_err(ours, ref) <= 1e-13
    assert fast.upsample_conv_backward(dy, cache, input_grad=False)[0] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_products_with_every_layout(rng, dtype):
    a = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal((4, 5)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for left in (a, np.asfortranarray(a), a.T.copy().T, np.repeat(a, 2, axis=1)[:, ::2]):
        for right in (b, np.asfortranarray(b), np.repeat(b, 2, axis=0)[::2]):
            assert rel_err(matmul(left, right), a @ b) <= tol
    out = np.full((6, 5), np.nan, dtype)
    assert matmul(a, b, out=out) is out and rel_err(out, a @ b) <= tol
    acc = np.ones((6, 5), dtype)
    gemm_accumulate(a, b, acc)
    assert rel_err(acc, 1 + a @ b) <= tol
    stack = rng.standard_normal((3, 6, 4)).astype(dtype)
    assert rel_err(matmul(stack.transpose(0, 2, 1), stack), stack.transpose(0, 2, 1) @ stack) <= tol


def test_gemm_accumulate_adds_in_place(rng):
    for dtype in (np.float32, np.float64):
        a, b = rng.random((50, 7)).astype(dtype), rng.random((7, 3)).astype(dtype)
        out = rng.random((50, 3)).astype(dtype)
        expected = out + a @ b
        buffer = out
        gemm_accumulate(a, b, out)
        assert out is buffer and rel_err(out, expected) <= 1e-6
        # Views of bigger arrays, as the kernels pass them.
        big = rng.random((60, 3)).astype(dtype)
        view = big[5:55]
        expected = view + a @ b
        gemm_accumulate(a, b, view)
        assert rel_err(big[5:55], expected) <= 1e-6


@pytest.fixture(scope="module", params=["zero padding", "reflection padding"])
def vgg_file(tmp_path_factory, request):
    """Random VGG-19 weights: zero-padded as Caffe's, or reflect-padded with a colour conv first
    as the normalised Torch7 VGG."""
    path = tmp_path_factory.mktemp("fast_vgg") / "w.h5"
    if request.param == "zero padding":
        save_random_vgg_h5(path, "vgg19", seed=1, upto="relu5_1")
    else:
        from stylelab.files.vgg_h5 import save_vgg_h5
        from stylelab.nets.vgg import random_weights
        colour = (rng_colour := np.random.default_rng(2)).standard_normal((3, 1, 1, 3)), \
            rng_colour.standard_normal(3)
        save_vgg_h5(path, "vgg19", random_weights("vgg19", seed=1, upto="relu5_1"),
                    dict(channel_order="RGB", input_scale=1.0, mean=[0, 0, 0], std=[1, 1, 1]),
                    "random weights (seed 1)", family="normalised", padding="reflect",
                    preprocess=colour)
    return path


SPARSE = ["relu1_1", "conv2_2", "pool2", "relu3_1", "relu4_2", "conv4_4", "relu5_1"]


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("size,winograd", [((32, 32), True), ((60, 44), False), ((18, 34), True)],
                         ids=["even maps", "odd maps from block 3 on: no Winograd", "odd early maps"])
def test_the_fast_engine_equals_the_readable_vgg_at_every_layer(rng, vgg_file, size, winograd,
                                                                pooling):
    fast_net = load_vgg(vgg_file, pooling=pooling, dtype=np.float64)
    readable = load_vgg(vgg_file, pooling=pooling, dtype=np.float64, engine="readable")
    if fast_net.padding == "reflect":       # block 5 must keep 2 pixels to mirror
        size = {(18, 34): (34, 36)}.get(size, size)
    every = fast_net.names
    for trial, asked in enumerate([every, SPARSE, SPARSE, every]):
        # Again in the first pass's buffers; on the third pass with the arenas freed each time.
        fast_net.scratch_limit = 0 if trial == 2 else 1 << 30
        x = rng.random((1, *size, 3))
        feats = fast_net.forward(x, layers=asked, reuse_buffers=True)
        ref = readable.forward(x, layers=asked)
        for n in asked:
            assert rel_err(feats[n], ref[n]) <= 1e-12, (trial, n)
        grads = {n: rng.standard_normal(feats[n].shape) for n in asked}
        dx = fast_net.backward(dict(grads))
        assert rel_err(dx, readable.backward(grads)) <= 1e-12, trial
    for n in ("relu1_1", "pool3", "relu4_1", "conv5_1"):     # a gradient at one layer alone
        x = rng.random((1, *size, 3))
        g = {n: rng.standard_normal(fast_net.forward(x, layers=[n])[n].shape)}
        readable.forward(x, layers=[n])
        assert rel_err(fast_net.backward(dict(g)), readable.backward(g)) <= 1e-12, n
    fast_net.forward(x, layers=SPARSE)
    kernels = {cache for name, kind, cache in fast_net._tape[1] if kind == "conv"}
    assert ("winograd" in kernels) == winograd     # Winograd needs even maps (block 3: size / 4)
    assert {"row_taps", "shifted"} <= kernels
    kinds = {kind for _, kind, _ in fast_net._tape[1]}
    assert ({"relu_pool_only", "maxpool_winners"} <= kinds) == (pooling == "max")


def test_the_fast_engine_on_a_batch_of_two(rng, vgg_file):
    """The spare columns of each conv, and the rows between the two images, land on
    borders the engine then zeroes (or mirrors): nothing leaks from one image to the other."""
    fast_net = load_vgg(vgg_file, dtype=np.float64)
    readable = load_vgg(vgg_file, dtype=np.float64, engine="readable")
    x = rng.random((2, 32, 40, 3))
    for _ in range(2):                                     # fresh buffers, then reused ones
        feats = fast_net.forward(x, layers=SPARSE, reuse_buffers=True)
        ref = readable.forward(x, layers=SPARSE)
        for n in SPARSE:
            assert rel_err(feats[n], ref[n]) <= 1e-12, n
        grads = {n: rng.standard_normal(feats[n].shape) for n in SPARSE}
        assert rel_err(fast_net.backward(dict(grads)), readable.backward(grads)) <= 1e-12


@pytest.mark.parametrize("engine", ["fast", "readable"])
def test_a_pass_for_inference_keeps_no_caches(rng, vgg_file, engine):
    """``keep_cache=False`` (an encoder, no backward to follow): the same features, and a
    backward pass after it is refused."""
    net = load_vgg(vgg_file, dtype=np.float64, engine=engine)
    x = rng.random((1, 32, 32, 3))
    with_caches = {n: f.copy() for n, f in net.forward(x, layers=SPARSE).items()}
    feats = net.forward(x, layers=SPARSE, reuse_buffers=True, keep_cache=False)
    for n in SPARSE:
        assert np.array_equal(feats[n], with_caches[n]), n
    with pytest.raises(ValueError, match=r"kept its caches first \(keep_cache=True\)"):
        net.backward({"relu3_1": np.ones_like(feats["relu3_1"])})


def test_the_readable_vgg_is_a_table_of_layer_functions(vgg_file):
    net = load_vgg(vgg_file, engine="readable")
    assert list(net.layers) == net.names
    forward, backward = net.layers["relu2_1"]
    assert (forward, backward) == (layers.relu_forward, layers.relu_backward)
    assert net.layers["pool1"] == (layers.maxpool2x2_forward, layers.maxpool2x2_backward)
    with pytest.raises(ValueError, match="engine must be one of"):
        load_vgg(vgg_file, engine="turbo")


def test_pooling_from_stored_winners_equals_the_reference(xp, rng):
    # Small integers make ties; odd sizes leave a row and a column out.
    x = xp.asarray(rng.integers(0, 3, (2, 7, 9, 3)).astype(np.float64))
    y, cache = layers.maxpool2x2_forward(x)
    dy = xp.asarray(rng.standard_normal(y.shape))
    won = pool_winners.winners(x, y)
    assert won.dtype == np.uint8
    out = xp.full(x.shape, np.nan)
    got = pool_winners.backward(dy, won, x.shape, out=out)
    assert rel_err(got, layers.maxpool2x2_backward(dy, cache)) == 0.0
