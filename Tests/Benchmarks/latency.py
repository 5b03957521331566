#!/usr/bin/env python3
"""Batch-1 inference latency of one trained model three ways, side by side:
the emitted C (gcc -O2), nasc's JIT, and PyTorch eager (1 thread each).

    python3 Tests/Benchmarks/latency.py ir-specs/models/small_cnn.nasir generated/small_cnn.ckpt
"""
import argparse, gzip, os, statistics, subprocess, sys, tempfile, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_peer import Model  # noqa: E402


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
    subprocess.run(["gcc", "-std=c99", "-O2", "-march=native", "-o", f"{work}/model", f"{work}/model.c", f"{work}/model_main.c", "-lm"], check=True)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([f"{work}/model", "--raw", f"{work}/images.f32"], check=True, capture_output=True)
        runs.append((time.perf_counter() - t) / args.images)
    c_ms = statistics.median(runs) * 1000

    out = subprocess.run([args.nasc, "eval", args.arch, "--weights", args.weights, "--latency"], check=True, capture_output=True, text=True).stdout
    jit_ms = float(out.split("median ")[1].split(" ms")[0])

    torch.set_num_threads(1)
    model = Model(open(args.arch).read())
    # Latency does not depend on the weights: PyTorch runs its own initialization.
    x = torch.from_numpy(images.reshape(-1, 1, 28, 28))
    y = torch.zeros(1, dtype=torch.long)
    times = []
    with torch.no_grad():
        for i in range(args.images):
            t = time.perf_counter()
            model(x[i:i + 1], y, training=False)
            times.append(time.perf_counter() - t)
    torch_ms = statistics.median(times) * 1000
    print(f"batch-1 inference latency, {args.arch}, median per image:")
    print(f"  emitted C (gcc -O2)  {c_ms:.3f} ms")
    print(f"  nasc JIT             {jit_ms:.3f} ms  ({jit_ms / c_ms:.2f}x the C)")
    print(f"  PyTorch eager        {torch_ms:.3f} ms  ({torch_ms / c_ms:.2f}x the C)")


if __name__ == "__main__":
    main()
