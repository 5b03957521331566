#!/usr/bin/env python3
"""Training words/s of the small LSTM language model (Zaremba et al.: 2
layers of 200 units, 20 rows x 35 steps, vocabulary 10,000, SGD, clipping
at 5) in nasc and in PyTorch (nn.LSTM, eager), side by side, same threads.

    ~/.cache/nasc/venv/bin/python Tests/Benchmarks/lstm_peer.py --nasc .build/release/nasc

nasc trains on the first --words words of Penn Treebank (data/ptb, `make
ptb`); PyTorch trains on the same words. Both sides are measured the same
two ways: the median step (steady speed; the ratio to quote) and the mean
over every step, the first ones included (what a whole epoch costs).
"""
import argparse, re, statistics, subprocess, time

import torch
import torch.nn as nn


def read_words(path):
    with open(path) as f:
        return [w for line in f for w in line.split() + ["<eos>"]]


def torch_rate(ids, vocab, threads, batch, steps, hidden, layers, measured):
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden)
            self.lstm = nn.LSTM(hidden, hidden, layers)
            self.out = nn.Linear(hidden, vocab)
            for p in self.parameters():
                nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, state):
            y, state = self.lstm(self.embedding(x), state)
            return self.out(y), state

    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    data = torch.tensor(ids[: len(ids) // batch * batch]).view(batch, -1).t().contiguous()  # [time, batch]
    state = (torch.zeros(layers, batch, hidden), torch.zeros(layers, batch, hidden))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(0, min(data.size(0) - 1, measured * steps), steps):
        x, y = data[i:i + steps], data[i + 1:i + 1 + steps]
        if y.size(0) < steps:
            break
        start = time.perf_counter()
        state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = loss_fn(logits.view(-1, vocab), y.reshape(-1)) * steps
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        times.append(time.perf_counter() - start)
    words = batch * steps
    return words / statistics.median(times), words * len(times) / sum(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nasc", default=".build/release/nasc")
    ap.add_argument("--data", default="data/ptb")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--words", type=int, default=70000, help="training words nasc reads (one pass)")
    ap.add_argument("--cell", default="ir-specs/models/lstm_cell.nasir")
    args = ap.parse_args()

    words = read_words(f"{args.data}/ptb.train.txt")
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    vocab = sorted(counts, key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index[w] for w in words[: args.words + 1]]

    out = subprocess.run([args.nasc, "train-lm", args.cell, "--data", args.data, "--epochs", "1", "--limit", str(args.words),
                          "--eval-batch", "20", "--threads", str(args.threads)], capture_output=True, text=True, check=True).stdout
    compiled = re.search(r"in ([0-9.]+) s", out).group(1)
    rates = re.search(r"\(([0-9]+) words/s; median step ([0-9]+) words/s\)", out)
    nasc_mean, nasc_median = float(rates.group(1)), float(rates.group(2))
    torch_median, torch_mean = torch_rate(ids, len(vocab), args.threads, 20, 35, 200, 2, max(5, args.words // (20 * 35)))
    print(f"small LSTM language model, {args.threads} threads, {args.words} words; words/s")
    print(f"                 median step   mean of all steps")
    print(f"  nasc           {nasc_median:11.0f}   {nasc_mean:17.0f}   (compiled in {compiled} s)")
    print(f"  PyTorch eager  {torch_median:11.0f}   {torch_mean:17.0f}")
    print(f"  ratio          {nasc_median / torch_median:10.2f}x   {nasc_mean / torch_mean:16.2f}x")


if __name__ == "__main__":
    main()
