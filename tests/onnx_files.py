"""ONNX files for the tests, made the ways the field makes them: PyTorch's exporters and onnx.helper.

The references the ONNX tests compare with: onnxruntime running a file, and
the PyTorch module a file was exported from. Written here, for the tests;
nothing in stylelab imports onnx, onnxruntime or torch.
"""

import io
import pathlib
import warnings

import numpy as np
import pytest

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"
VGG16_MRI = SHARED / "models" / "vgg16-mri" / "vgg16_mri.onnx"


def need(module):
    """Import an optional test dependency, or skip saying which."""
    return pytest.importorskip(module, reason=f"{module} is a test dependency "
                                              f"(pip install -e '.[test]')")


def shared_vgg16():
    if not VGG16_MRI.is_file():
        pytest.skip(f"{VGG16_MRI} is absent: the real VGG-16 is shared beside the project, "
                    f"not in it")
    return VGG16_MRI


def with_outputs(path, names, until=None):
    """A copy of the model at `path` whose outputs are the tensors `names`, NCHW input of any size.

    The nodes after the one making `until` (default: the last name) are dropped
    (the shared VGG-16's classifier wants 240 x 240 pictures).
    """
    onnx = need("onnx")
    from onnx import helper
    model = onnx.load(str(path))
    until = until or names[-1]
    keep = []
    for node in model.graph.node:
        keep.append(node)
        if until in node.output:
            break
    del model.graph.node[len(keep):]
    del model.graph.output[:]
    model.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names)
    inp = model.graph.input[0]
    for i, d in enumerate(inp.type.tensor_type.shape.dim):
        d.ClearField("dim_value")
        d.dim_param = f"d{i}"
    used = {i for n in model.graph.node for i in n.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model.SerializeToString()


def run_ort(model_bytes, x):
    """Run an ONNX model (bytes) in onnxruntime on one input; all its outputs."""
    ort = need("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})


def torch_vgg_features(torch, arch="vgg19", seed=0, classifier=False):
    """torchvision's VGG layout (``features`` only, or with a small classifier), random weights."""
    nn = torch.nn
    torch.manual_seed(seed)
    blocks = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}[arch]
    widths = (64, 128, 256, 512, 512)
    layers, c = [], 3
    for n, f in zip(blocks, widths):
        for _ in range(n):
            conv = nn.Conv2d(c, f, 3, padding=1)
            nn.init.normal_(conv.weight, std=(2 / (9 * c)) ** 0.5)
            nn.init.uniform_(conv.bias, -0.1, 0.1)
            layers += [conv, nn.ReLU(inplace=False)]
            c = f
        layers.append(nn.MaxPool2d(2, 2))
    if classifier:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers).eval()


def export(torch, module, x, path, opset, dynamo=False, names=("input", "output")):
    """``torch.onnx.export`` to `path`: the TorchScript exporter, or the torch.export one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            need("onnxscript")
            h, w = torch.export.Dim("h", min=8, max=4096), torch.export.Dim("w", min=8, max=4096)
            torch.onnx.export(module, (x,), str(path), input_names=[names[0]],
                              output_names=[names[1]], opset_version=opset, dynamo=True,
                              dynamic_shapes=({2: 4 * h, 3: 4 * w},), verbose=False)
        else:
            buf = io.BytesIO()
            torch.onnx.export(module, (x,), buf, input_names=[names[0]],
                              output_names=[names[1]], opset_version=opset, dynamo=False,
                              dynamic_axes={names[0]: {0: "n", 2: "h", 3: "w"}})
            pathlib.Path(path).write_bytes(buf.getvalue())
    return path


def as_double(model_bytes):
    """The same model with float64 weights and input, for onnxruntime in double precision."""
    onnx = need("onnx")
    from onnx import numpy_helper
    model = onnx.load_from_string(model_bytes)
    for t in model.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64),
                                               t.name))
    for v in [*model.graph.input, *model.graph.output]:
        v.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    return model.SerializeToString()
