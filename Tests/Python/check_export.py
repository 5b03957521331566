"""Checks an exported model against nasc's own logits on the same images.

    check_export.py onnx MODEL.onnx INPUTS.npy LOGITS.npy
    check_export.py pytorch MODULE.py WEIGHTS.safetensors INPUTS.npy LOGITS.npy

INPUTS.npy and LOGITS.npy come from `nasc eval --inputs --logits`. The ONNX
model must pass onnx.checker and give, under ONNX Runtime, the same logits
(1e-5 relative) and classes at the full batch and at batch 1 (the batch
dimension is symbolic). The PyTorch module must load the safetensors weights
strictly, give the same logits in eval mode, and take a training step.
Prints one line of figures; exits 1 when they disagree.
"""
import importlib.util
import sys

import numpy as np

TOLERANCE = 1e-5


def agreement(got, want):
    """Worst |got - want| relative to the larger of |want| and the row's mean
    magnitude (as the C emitter's check measures), and rows of equal class."""
    scale = np.maximum(np.abs(want), np.abs(want).mean(axis=1, keepdims=True))
    worst = float(np.max(np.abs(got - want) / scale))
    same = int(np.sum(got.argmax(axis=1) == want.argmax(axis=1)))
    return worst, same


def report(what, got, want):
    worst, same = agreement(got, want)
    n = len(want)
    print(f"{what}: worst relative logit difference {worst:.3g}, {same}/{n} same class")
    return worst <= TOLERANCE and same == n


def check_onnx(path, inputs, logits):
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    if batch.dim_param == "":
        print(f"{path}: the batch dimension is fixed ({batch.dim_value}), not symbolic")
        return False
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    full = session.run(None, {name: inputs})[0]
    single = np.concatenate([session.run(None, {name: inputs[i:i + 1]})[0] for i in range(min(len(inputs), 20))])
    print(f"onnx.checker: ok, opset {opset}, batch dimension '{batch.dim_param}', {len(model.graph.node)} nodes")
    ok = report(f"ONNX Runtime {ort.__version__} vs nasc on {len(inputs)} images", full, logits)
    return report("ONNX Runtime at batch 1 vs nasc", single, logits[:len(single)]) and ok


def check_pytorch(path, weights, inputs, logits):
    import torch

    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, torch.nn.Module) and c.__module__ == "exported"]
    if len(classes) != 1:
        print(f"{path}: expected one torch.nn.Module class, found {[c.__name__ for c in classes]}")
        return False
    torch.set_num_threads(1)
    model = module.load_nasc_weights(classes[0](), weights).eval()
    with torch.no_grad():
        got = model(torch.from_numpy(inputs)).numpy()
    ok = report(f"PyTorch {torch.__version__} {classes[0].__name__} vs nasc on {len(inputs)} images", got, logits)
    # The module is for retraining: one SGD step in training mode must work.
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(inputs[:32])), torch.from_numpy(logits[:32].argmax(axis=1)))
    loss.backward()
    optimizer.step()
    trained = bool(torch.isfinite(loss.detach())) and all(p.grad is not None for p in model.parameters())
    print(f"training step: loss {loss.item():.4f}, every parameter has a gradient: {trained}")
    return ok and trained


def main(argv):
    if len(argv) == 5 and argv[1] == "onnx":
        ok = check_onnx(argv[2], np.load(argv[3]), np.load(argv[4]))
    elif len(argv) == 6 and argv[1] == "pytorch":
        ok = check_pytorch(argv[2], argv[3], np.load(argv[4]), np.load(argv[5]))
    else:
        print(__doc__)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
