#!/usr/bin/env python3
"""Trains the same architecture with the same recipe in PyTorch (eager) for
the wall time per epoch beside `nasc train`'s: an IR file read by peer.py's
interpreter, Fashion-MNIST from the Debian package, last 5,000 training images
held out, SGD with Nesterov momentum 0.9, weight decay 5e-4 on weights, cosine
learning rate from 0.05, batch 128, 2 threads.

    python3 Tests/Benchmarks/train_peer.py ir-specs/models/reference_cnn.nasir --epochs 1
"""
import argparse, gzip, math, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer import evaluate, parse  # noqa: E402


def idx(path):
    data = gzip.open(path).read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class Model(torch.nn.Module):
    def __init__(self, text):
        super().__init__()
        self.nodes = parse(text)
        self.params = torch.nn.ParameterDict()
        self.states = {}
        for result, op, _, attrs, shape in self.nodes:
            if op == "param":
                t = torch.empty(shape)
                init = attrs["init"]
                if init == "zeros": torch.nn.init.zeros_(t)
                elif init == "ones": torch.nn.init.ones_(t)
                elif init == "he_normal":
                    fan_in = shape[1] * math.prod(shape[2:]) if len(shape) == 4 else shape[0]
                    torch.nn.init.normal_(t, std=math.sqrt(2 / fan_in))
                elif init == "glorot_uniform":
                    bound = math.sqrt(6 / (shape[0] + shape[1]))
                    torch.nn.init.uniform_(t, -bound, bound)
                self.params[result] = torch.nn.Parameter(t)
            elif op == "state":
                self.states[result] = torch.zeros(shape) if attrs["init"] == "zeros" else torch.ones(shape)

    def forward(self, x, y, training=True):
        v = evaluate(self.nodes, {"x": x, "y": y, **dict(self.params.items()), **self.states}, training)
        return v["loss"], v["logits"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.tensor(idx(f"{args.data}/train-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    y = torch.tensor(idx(f"{args.data}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xt = torch.tensor(idx(f"{args.data}/t10k-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    yt = torch.tensor(idx(f"{args.data}/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    x, y = x[:55000], y[:55000]
    model = Model(open(args.arch).read())
    decay = [p for n, p in model.params.items() if p.dim() >= 2]
    rest = [p for n, p in model.params.items() if p.dim() < 2]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest}], lr=0.05, momentum=0.9, nesterov=True)
    steps = math.ceil(55000 / 128)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(55000)
        for b in range(steps):
            lr = 0.05 * 0.5 * (1 + math.cos(math.pi * (epoch + b / steps) / args.epochs))
            for g in opt.param_groups: g["lr"] = lr
            idxs = order[b * 128:(b + 1) * 128]
            opt.zero_grad(set_to_none=True)
            loss, _ = model(x[idxs], y[idxs])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            _, logits = model(xt, yt, training=False)
            acc = (logits.argmax(1) == yt).float().mean().item()
        print(f"torch eager epoch {epoch + 1}: {seconds:.1f} s ({55000 / seconds:.0f} img/s), test accuracy {acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
