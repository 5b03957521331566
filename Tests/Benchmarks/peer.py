#!/usr/bin/env python3
"""Runs `nasc bench` and the same children in PyTorch (eager and torch.compile)
side by side, with the same initial weights, batch size and thread count, and
prints a table of ratios (Markdown, for the README).

    python3 Tests/Benchmarks/peer.py [--nasc .build/release/nasc] [--steps 5] [--threads 2]
    python3 Tests/Benchmarks/peer.py --held-out 8 --seed 1   # children the suite does not contain

--held-out N measures N children sampled from the search space (`nasc
sample`, 2 to 12 layers, a pool after every 0 to 3 layers, chosen by --seed)
instead of the built-in suite, so that a speed-up is checked beyond the
children it was tuned on.

The machine's speed drifts within minutes, so after one `nasc bench` run
of all children (compile, memory), each child is measured --rounds times
(default 3) in nasc, eager and torch.compile side by side, and each ratio
is the median of the rounds' ratios.

PyTorch is not a dependency of nasc: install it in a virtual environment
outside the repository (pip install torch numpy) and run this script with it.
"""
import argparse, ctypes, gc, json, math, os, re, statistics, subprocess, sys, tempfile, time

import numpy as np

# Every torch.compile starts cold, as a new child in a search would.
os.environ.setdefault("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")
import torch
import torch.nn.functional as F

NODE = re.compile(r"%(\S+) = (\w+)(?: ([^{:]*?))?(?: \{(.*)\})?(?: : (\S+))?$")


def same_padding(size, kernel, stride, dilation=1):
    """nasc's `pad = same` (TensorFlow's): ceil(size / stride) outputs, the
    odd pixel of padding after (bottom, right); a dilated filter spans
    dilation * (kernel - 1) + 1 pixels."""
    extent = dilation * (kernel - 1) + 1
    total = max((math.ceil(size / stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def conv_same(x, w, stride, dilation=(1, 1), groups=1):
    if stride == 1:
        return F.conv2d(x, w, padding="same", dilation=dilation, groups=groups)
    (top, bottom), (left, right) = (same_padding(x.shape[d], w.shape[d], stride, dilation[d - 2]) for d in (2, 3))
    return F.conv2d(F.pad(x, (left, right, top, bottom)), w, stride=stride, dilation=dilation, groups=groups)


def pool(op, x, window, stride, same):
    """nasc's pools: `pad = same` pads as conv_same does (the odd pixel
    after), a max pool ignores the padding and an average pool divides by
    the pixels inside the image."""
    if not same:
        return (F.max_pool2d if op == "max_pool" else F.avg_pool2d)(x, window, stride)
    (top, bottom), (left, right) = (same_padding(x.shape[d], window[d - 2], stride[d - 2]) for d in (2, 3))
    if top == bottom and left == right:  # PyTorch's own (symmetric) padding
        if op == "max_pool":
            return F.max_pool2d(x, window, stride, padding=(top, left))
        return F.avg_pool2d(x, window, stride, padding=(top, left), count_include_pad=False)
    pads = (left, right, top, bottom)
    if op == "max_pool":
        return F.max_pool2d(F.pad(x, pads, value=-math.inf), window, stride)
    total = F.avg_pool2d(F.pad(x, pads), window, stride, divisor_override=1)
    inside = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pads), window, stride, divisor_override=1)
    return total / inside


def ints(attr):
    return [int(v) for v in re.findall(r"-?\d+", attr)]


def evaluate(nodes, v, training=True):
    """Runs the graph's nodes in PyTorch over `v` (inputs, params and states
    by name), adding every result; train_peer.py's model runs the same."""
    for result, op, o, attrs, shape in nodes:
        if op in ("param", "state"):
            continue
        if op == "conv2d":
            v[result] = conv_same(v[o[0]], v[o[1]], ints(attrs.get("stride", "[1, 1]"))[0],
                                  tuple(ints(attrs.get("dilation", "[1, 1]"))), int(attrs.get("groups", "1")))
        elif op == "batch_norm":
            v[result] = F.batch_norm(v[o[0]], v[o[3]], v[o[4]], v[o[1]], v[o[2]], training=training, momentum=0.1, eps=1e-5)
        elif op == "relu":
            v[result] = F.relu(v[o[0]])
        elif op == "concat":
            v[result] = torch.cat([v[a] for a in o], dim=1)
        elif op == "global_avg_pool":
            v[result] = v[o[0]].mean(dim=(2, 3))
        elif op in ("max_pool", "avg_pool"):
            window, stride = ints(attrs["window"]), ints(attrs.get("stride", attrs["window"]))
            v[result] = pool(op, v[o[0]], window, stride, attrs.get("pad") == "same")
        elif op == "add":
            v[result] = v[o[0]] + v[o[1]]
        elif op == "flatten":
            v[result] = v[o[0]].flatten(1)
        elif op == "matmul":
            v[result] = v[o[0]] @ v[o[1]]
        elif op == "bias_add":
            v[result] = v[o[0]] + (v[o[1]] if v[o[0]].dim() == 2 else v[o[1]].view(1, -1, 1, 1))
        elif op == "softmax_cross_entropy":
            v[result] = F.cross_entropy(v[o[0]], v[o[1]])
        else:
            raise SystemExit(f"{os.path.basename(sys.argv[0])}: op {op} is not supported")
    return v


def parse(text):
    """The nodes of a nasc IR file: (result, op, operands, attrs, type)."""
    nodes = []
    for line in text.splitlines():
        line = line.strip()
        m = NODE.match(line)
        if not m:
            continue
        result, op, operands, attrs, typ = m.groups()
        operands = [o.strip().lstrip("%") for o in operands.split(",")] if operands else []
        parsed = {}
        if attrs:
            for k, v in re.findall(r"(\w+) = (\[[^\]]*\]|[^,]+)", attrs):
                parsed[k] = v.strip()
        shape = [int(d) for d in re.findall(r"\d+", typ.split("[", 1)[1])] if typ else None
        nodes.append((result, op, operands, parsed, shape))
    return nodes


class Child:
    def __init__(self, text, params_path):
        self.nodes = parse(text)
        flat = np.fromfile(params_path, dtype="<f4")
        self.params, self.states, offset = {}, {}, 0
        for result, op, _, attrs, shape in self.nodes:
            if op == "param":
                n = math.prod(shape)
                self.params[result] = torch.tensor(flat[offset:offset + n].reshape(shape), requires_grad=True)
                offset += n
            elif op == "state":
                self.states[result] = torch.zeros(shape) if attrs["init"] == "zeros" else torch.ones(shape)
        assert offset == flat.size, "parameter file does not match the IR"

    def loss(self, x, y):
        return evaluate(self.nodes, {"x": x, "y": y, **self.params, **self.states})["loss"]


def resident(field="VmRSS"):
    """Resident bytes now (VmRSS) or at the peak since reset_peak (VmHWM)."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def reset_peak():
    """Restarts VmHWM from what is resident now (Linux 4.0 on), as nasc bench
    does. Heap that earlier children freed goes back to the system first
    (malloc_trim), or a step reusing it would go uncounted."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure(child, step_fn, x, y, steps):
    """First step's time (includes any compilation), then the median of `steps` more."""
    t = time.perf_counter()
    step_fn(x, y)
    first = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step_fn(x, y)
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def nasc_round(args, path, json_path):
    """One `nasc bench` of a child, measured now: its median training-step
    seconds, the step's GFLOP (every op of forward, backward and update) and
    OpenBLAS's own sgemm rate in GFLOP/s, measured just before the steps."""
    subprocess.run([args.nasc, "bench", path, "--steps", str(args.steps), "--threads", str(args.threads),
                    "--batch", str(args.batch), "--json", json_path], check=True, env=MEMORY_ENV, stdout=subprocess.DEVNULL)
    report = json.load(open(json_path))
    child = report["children"][0]
    return child["step_median_s"], child["gflops_per_s"] * child["step_median_s"], report["sgemm_gflops_per_s"]


def make_step(child, compiled):
    opt = torch.optim.SGD(child.params.values(), lr=0.01, momentum=0.9)
    loss_fn = torch.compile(child.loss) if compiled else child.loss

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x, y)
        loss.backward()
        opt.step()
        return loss
    return step


# Resident memory is compared as the peak over a step: glibc must return
# every large block when it is freed (a fixed mmap threshold), or a step's
# tensors reuse heap that earlier ones left resident and go uncounted. It
# slows PyTorch's allocations, so PyTorch's memory is measured in a process
# of its own (one per child) and its speed here, with glibc's defaults; nasc
# allocates once per child, so its bench runs with the setting throughout.
MEMORY_ENV = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")


def eager_resident_bytes(prefix, batch):
    """Peak resident bytes of PyTorch eager training steps of one child, after
    one uncounted step (PyTorch's one-time set-up: thread pool, oneDNN)."""
    child = Child(open(prefix + ".nasir").read(), prefix + ".params")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    warm = make_step(Child(open(prefix + ".nasir").read(), prefix + ".params"), False)
    warm(x, y)
    del warm
    gc.collect()
    reset_peak()
    before = resident()
    step = make_step(child, False)
    for _ in range(2):
        step(x, y)
    return resident("VmHWM") - before


def num(value, spec, suffix=""):
    """A figure for the table, or "-" where it was not measured (--no-compile)."""
    return "-" if math.isnan(value) else f"{value:{spec}}{suffix}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nasc", default=".build/release/nasc")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--only", default=None, help="comma-separated child names")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of nasc, eager and torch.compile side by side")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--held-out", type=int, default=0, metavar="N",
                    help="measure N children sampled from the search space instead of the built-in suite")
    ap.add_argument("--seed", type=int, default=1, help="which held-out children (--held-out)")
    ap.add_argument("--space", default="cnn", choices=["cnn", "cells"],
                    help="the space of the held-out children: cnn (2 to 12 layers) or cells (--cell-args)")
    ap.add_argument("--cell-args", default="--blocks 5 --cells 1 --channels 16",
                    help="nasc sample flags of the held-out cell children (--space cells)")
    ap.add_argument("--resident-of", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.resident_of:
        print(eager_resident_bytes(args.resident_of, args.batch))
        return
    work = tempfile.mkdtemp(prefix="nasc-bench-")
    cmd = [args.nasc, "bench", "--steps", str(args.steps), "--threads", str(args.threads), "--batch", str(args.batch),
           "--json", f"{work}/nasc.json", "--children-dir", work]
    if args.only:
        cmd += ["--only", args.only]
    if args.held_out:
        # Children of the search space the suite does not contain: depth,
        # pooling and the chain rule drawn from --seed, the rest by nasc sample.
        rng = np.random.default_rng(args.seed)
        os.makedirs(f"{work}/held-out")
        for k in range(args.held_out):
            layers, pool_every, chain = int(rng.integers(2, 13)), int(rng.integers(0, 4)), bool(rng.integers(0, 2))
            path = f"{work}/held-out/{'c' if args.space == 'cells' else 's'}{args.seed}_{k + 1}.nasir"
            space = (["--space", "cells"] + args.cell_args.split() if args.space == "cells"
                     else ["--layers", str(layers), "--pool-every", str(pool_every)] + (["--chain"] if chain else []))
            with open(path, "w") as f:
                subprocess.run([args.nasc, "sample", "--seed", str(1000 * args.seed + k)] + space, check=True, stdout=f)
            cmd.append(path)
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=MEMORY_ENV)
    report = json.load(open(f"{work}/nasc.json"))
    ours = report["children"]

    rows = []
    for c in ours:
        name = c["name"]
        text = open(f"{work}/{name}.nasir").read()
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(args.batch, 1, 28, 28, generator=gen)
        y = torch.randint(0, 10, (args.batch,), generator=gen)
        eager_resident = int(subprocess.run([sys.executable, __file__, "--resident-of", f"{work}/{name}", "--batch", str(args.batch),
                                             "--threads", str(args.threads)], env=MEMORY_ENV, check=True,
                                            capture_output=True, text=True).stdout)
        eager_step = make_step(Child(text, f"{work}/{name}.params"), False)
        comp_step, comp_first = None, float("nan")
        if not args.no_compile:
            torch._dynamo.reset()
            comp_step = make_step(Child(text, f"{work}/{name}.params"), True)
        # This machine's speed drifts by half within minutes, so the three
        # are measured side by side, round after round, and each ratio is
        # the median of the rounds' ratios.
        rounds = []
        for r in range(args.rounds):
            ours_s, gflop, peak = nasc_round(args, f"{work}/{name}.nasir", f"{work}/round.json")
            eager = measure(None, eager_step, x, y, args.steps)[1]
            comp = float("nan")
            if comp_step:
                first, comp = measure(None, comp_step, x, y, args.steps)
                comp_first = first if r == 0 else comp_first
            rounds.append((ours_s, eager, comp, gflop, peak))
        # Images per second (medians over the rounds) and the ratios.
        ours_ips, eager_ips, comp_ips = (args.batch / statistics.median(rd[i] for rd in rounds) for i in range(3))
        re_ = statistics.median(eager / ours for ours, eager, *_ in rounds)
        rc = statistics.median(comp / ours for ours, _, comp, *_ in rounds)
        # The step's rate as a share of OpenBLAS's sgemm rate in the same
        # round (the same FLOP count for torch.compile's step).
        share = tuple(statistics.median(gflop / seconds / peak for seconds, gflop, peak in ((rd[i], rd[3], rd[4]) for rd in rounds))
                      for i in (0, 2))
        rows.append((c, (ours_ips, eager_ips, comp_ips, re_, rc, share), comp_first, eager_resident))
        print(f"{name}: eager {eager_ips:.0f} img/s, torch.compile {num(comp_ips, '.0f')} img/s "
              f"(first step {num(comp_first, '.1f')} s), nasc {ours_ips:.0f} img/s "
              f"(medians of {args.rounds} rounds)", flush=True)

    print()
    print(f"Batch {args.batch}, {args.threads} threads, median of {args.steps} training steps (SGD, momentum 0.9), "
          f"{args.rounds} rounds side by side (ratios: the median of the rounds'); torch {torch.__version__}.")
    print()
    print("| child | layers | MFLOP/img | nasc compile cold / no library / after earlier children / warm | nasc img/s (GFLOP/s) | eager img/s | compile img/s | nasc / eager | nasc / compile | share of sgemm rate: nasc / compile | first step: nasc / torch.compile | resident memory: nasc / eager |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios_e, ratios_c, firsts = [], [], []
    memory, shares = [], []
    for c, (ours_ips, eager_ips, comp_ips, re_, rc, share), comp_first, eager_resident in rows:
        nasc_first = c["compile_cold_s"] + c["step_median_s"]
        ratios_e.append(re_); ratios_c.append(rc); firsts.append(comp_first / nasc_first)
        print(f"| {c['name']} | {c['layers']} | {c['mflops_per_image']:.1f} | {c['compile_cold_s']*1000:.0f} / {c['compile_cold_no_library_s']*1000:.0f} / {c['compile_after_earlier_s']*1000:.0f} / {c['compile_warm_s']*1000:.0f} ms "
              f"| {ours_ips:.0f} ({c['gflops_per_s'] * ours_ips / c['images_per_s']:.0f}) | {eager_ips:.0f} | {num(comp_ips, '.0f')} | {re_:.2f}x | {num(rc, '.2f', 'x')} "
              f"| {share[0]:.0%} / {num(share[1] * 100, '.0f', '%')} "
              f"| {nasc_first:.2f} s / {num(comp_first, '.1f', ' s')} ({num(comp_first/nasc_first, '.0f', 'x faster')}) "
              f"| {c['resident_bytes']/2**20:.0f} / {eager_resident/2**20:.0f} MiB ({c['resident_bytes']/eager_resident:.2f}x) |")
        memory.append(c["resident_bytes"] / eager_resident)
        shares.append(share)
    gm = lambda xs: math.exp(sum(math.log(v) for v in xs) / len(xs))
    cold = statistics.median(c["compile_cold_s"] for c, *_ in rows)
    alone = statistics.median(c["compile_cold_no_library_s"] for c, *_ in rows)
    after = statistics.median(c["compile_after_earlier_s"] for c, *_ in rows)
    print()
    print(f"Geometric mean throughput: {gm(ratios_e):.2f}x PyTorch eager, {num(gm(ratios_c), '.2f', 'x')} torch.compile. "
          f"Median compile of a training step: {cold*1000:.0f} ms cold (kernel library: {report['library_kernels']} kernels), "
          f"{alone*1000:.0f} ms cold with no library, {after*1000:.0f} ms with the earlier children's kernels cached. "
          f"Architecture to first trained step: {num(gm(firsts), '.0f', 'x')} faster than torch.compile (geometric mean). "
          f"Resident memory of a training step: {gm(memory):.2f}x PyTorch eager's (geometric mean; worst {max(memory):.2f}x). "
          f"OpenBLAS sgemm (1024^3) on this machine: {report['sgemm_gflops_per_s']:.0f} GFLOP/s; "
          f"median share of it in the rounds: nasc {statistics.median(s[0] for s in shares):.0%}, "
          f"torch.compile {num(statistics.median(s[1] for s in shares) * 100, '.0f', '%')}.")


if __name__ == "__main__":
    main()
