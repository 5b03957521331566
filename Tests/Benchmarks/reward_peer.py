#!/usr/bin/env python3
"""Architecture to reward, nasc against PyTorch: for children of the default
search, the wall time from a child's architecture to its reward (build,
compile, train on the search's training images, evaluate on its validation
images), in nasc and in PyTorch eager and torch.compile on the same images,
batch size and thread count.

nasc's figure is what its search records for each child (compile + train +
evaluate seconds in trials.db, one worker on one thread). PyTorch's is timed
here from the IR text to the accuracy: train_peer.py's model (the same
initializers) trained as a search child is (SGD with Nesterov momentum 0.9,
weight decay 5e-4 on weights, cosine learning rate from 0.1, batches of 32
over the same 1,000 training images, the last batch partial), then the
1,000 validation images in batches of 100 with batch norm's running
statistics. One-time costs of either framework
(PyTorch's thread pool, Inductor's imports; nasc's kernel library) are paid
before the first measured child.

    python3 Tests/Benchmarks/reward_peer.py [--nasc .build/release/nasc] [--children 12] [--seed 1]
"""
import os

# Every torch.compile starts cold, as a new child in a search would.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")

import argparse, math, sqlite3, statistics, subprocess, sys, tempfile, time, warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_peer import Model, idx  # noqa: E402

TRAIN, VALIDATION, BATCH, EVAL_BATCH, LR = 1000, 1000, 32, 100, 0.1


def reward_time(text, x, y, xv, yv, compiled):
    """Seconds from the IR text to the validation accuracy, and that accuracy."""
    start = time.perf_counter()
    model = Model(text)
    run = torch.compile(model) if compiled else model
    decay = [p for p in model.params.values() if p.dim() >= 2]
    rest = [p for p in model.params.values() if p.dim() < 2]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest}], lr=LR, momentum=0.9, nesterov=True)
    steps = math.ceil(TRAIN / BATCH)
    for b in range(steps):
        for g in opt.param_groups:
            g["lr"] = LR * 0.5 * (1 + math.cos(math.pi * b / steps))
        opt.zero_grad(set_to_none=True)
        loss, _ = run(x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH])
        loss.backward()
        opt.step()
    correct = 0
    with torch.no_grad():
        for b in range(0, VALIDATION, EVAL_BATCH):
            _, logits = run(xv[b:b + EVAL_BATCH], yv[b:b + EVAL_BATCH], training=False)
            correct += (logits.argmax(1) == yv[b:b + EVAL_BATCH]).sum().item()
    return time.perf_counter() - start, correct / VALIDATION


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nasc", default=".build/release/nasc")
    ap.add_argument("--children", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")  # Inductor's notes on disabled caches

    work = tempfile.mkdtemp(prefix="nasc-reward-")
    cmd = [args.nasc, "search", "--children", str(args.children + 1), "--seed", str(args.seed), "--fidelity", "none",
           "--train-images", str(TRAIN), "--validation-images", str(VALIDATION), "--epochs", "1", "--batch", str(BATCH),
           "--workers", "1", "--threads", "1", "--reevaluate", "0", "--out", f"{work}/run"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(f"{work}/run/trials.db")
    trials = db.execute("select decisions, compile_s + train_s + eval_s, flops, val_accuracy from trials "
                        "where status = 'ok' and train_s > 0 order by id").fetchall()[1:]  # the first pays one-time costs

    x = torch.tensor(idx(f"{args.data}/train-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    y = torch.tensor(idx(f"{args.data}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xv, yv = x[-VALIDATION:], y[-VALIDATION:]
    x, y = x[:TRAIN], y[:TRAIN]

    texts = [subprocess.run([args.nasc, "sample", "--decisions", d], check=True, capture_output=True, text=True).stdout
             for d, *_ in trials]
    reward_time(texts[0], x, y, xv, yv, False)  # one-time costs, uncounted
    reward_time(texts[0], x, y, xv, yv, True)
    torch._dynamo.reset()

    print("| child | MFLOP/img | nasc s (accuracy) | eager s (accuracy) | torch.compile s (accuracy) | eager / nasc | torch.compile / nasc |")
    print("|---|---|---|---|---|---|---|")
    ratios_e, ratios_c = [], []
    for i, ((decisions, ours, flops, acc), text) in enumerate(zip(trials, texts)):
        eager, eager_acc = reward_time(text, x, y, xv, yv, False)
        comp, comp_acc = reward_time(text, x, y, xv, yv, True)
        torch._dynamo.reset()
        ratios_e.append(eager / ours)
        ratios_c.append(comp / ours)
        print(f"| {i + 1} | {flops / 1e6:.1f} | {ours:.2f} ({acc:.3f}) | {eager:.2f} ({eager_acc:.3f}) | {comp:.2f} ({comp_acc:.3f}) "
              f"| {ratios_e[-1]:.2f}x | {ratios_c[-1]:.2f}x |", flush=True)

    def gm(v):
        return math.exp(statistics.fmean(math.log(r) for r in v))
    print(f"\n{len(trials)} children of the default space, 1 thread, {TRAIN} training and {VALIDATION} validation images, batch {BATCH}: "
          f"architecture to reward {gm(ratios_e):.2f}x faster than PyTorch eager and {gm(ratios_c):.2f}x faster than torch.compile "
          f"(geometric means; medians {statistics.median(ratios_e):.2f}x and {statistics.median(ratios_c):.2f}x).")


if __name__ == "__main__":
    main()
