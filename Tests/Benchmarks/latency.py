#!/usr/bin/env python3
"""Batch-1 inference latency of one trained model four ways, side by side:
the emitted C (gcc -O3 -march=native, as emit-c suggests, and -O2), nasc's JIT, PyTorch eager and ONNX Runtime on the
model `nasc export-onnx` writes (1 thread each).

    python3 Tests/Benchmarks/latency.py ir-specs/models/small_cnn.nasir generated/small_cnn.ckpt
"""
import argparse, gzip, importlib.util, statistics, subprocess, tempfile, time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("weights")
    ap.add_argument("--nasc", default=".build/release/nasc")
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nasc-latency-")
    data = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:]
    images = np.frombuffer(data, dtype=np.uint8)[: args.images * 784].astype(np.float32) / 255
    images.tofile(f"{work}/images.f32")

    subprocess.run([args.nasc, "emit-c", args.arch, "--weights", args.weights, "--out", work, "--name", "model"], check=True, capture_output=True)
    # The emitted C as emit-c suggests building it (-O3 -march=native) and at -O2.
    c_ms = {}
    for flags in (["-O3", "-march=native"], ["-O2"]):
        binary = f"{work}/model{flags[0]}"
        subprocess.run(["gcc", "-std=c99", *flags, "-o", binary, f"{work}/model.c", f"{work}/model_main.c", "-lm"], check=True)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([binary, "--raw", f"{work}/images.f32"], check=True, capture_output=True)
            runs.append((time.perf_counter() - t) / args.images)
        c_ms[" ".join(flags)] = statistics.median(runs) * 1000
    best_c = c_ms["-O3 -march=native"]

    out = subprocess.run([args.nasc, "eval", args.arch, "--weights", args.weights, "--latency"], check=True, capture_output=True, text=True).stdout
    jit_ms = float(out.split("median ")[1].split(" ms")[0])

    # PyTorch runs the module `nasc export-pytorch` writes, with the same weights.
    torch.set_num_threads(1)
    subprocess.run([args.nasc, "export-pytorch", args.arch, "--weights", args.weights, "--out", f"{work}/model.py"], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("exported", f"{work}/model.py")
    exported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exported)
    net = next(c for c in vars(exported).values() if isinstance(c, type) and issubclass(c, torch.nn.Module) and c.__module__ == "exported")
    model = exported.load_nasc_weights(net(), f"{work}/model.safetensors").eval()
    x = torch.from_numpy(images.reshape(-1, 1, 28, 28))
    times = []
    with torch.no_grad():
        for i in range(args.images):
            t = time.perf_counter()
            model(x[i:i + 1])
            times.append(time.perf_counter() - t)
    torch_ms = statistics.median(times) * 1000

    import onnxruntime as ort
    subprocess.run([args.nasc, "export-onnx", args.arch, "--weights", args.weights, "--out", f"{work}/model.onnx"], check=True, capture_output=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(f"{work}/model.onnx", options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    times = []
    for i in range(args.images):
        t = time.perf_counter()
        session.run(None, {name: x[i:i + 1].numpy()})
        times.append(time.perf_counter() - t)
    ort_ms = statistics.median(times) * 1000
    print(f"batch-1 inference latency, {args.arch}, median per image:")
    for flags, ms in c_ms.items():
        print(f"  emitted C, gcc {flags:<18}{ms:.3f} ms")
    print(f"  nasc JIT                        {jit_ms:.3f} ms  ({jit_ms / best_c:.2f}x the C at -O3)")
    print(f"  PyTorch eager                   {torch_ms:.3f} ms  ({torch_ms / best_c:.2f}x the C at -O3)")
    print(f"  ONNX Runtime {ort.__version__:<19}{ort_ms:.3f} ms  ({ort_ms / best_c:.2f}x the C at -O3)")

if __name__ == "__main__":
    main()
