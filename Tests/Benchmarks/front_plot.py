#!/usr/bin/env python3
"""Accuracy against batch-1 latency as an SVG (no dependencies): a
searched front beside hand-made networks, from a TSV of
`name<TAB>kind<TAB>latency_ms<TAB>accuracy[<TAB>below]` lines, kind `front` (joined by
the front's staircase) or anything else (a labelled point).

    python3 Tests/Benchmarks/front_plot.py points.tsv docs/images/front.svg --title "..."
"""
import argparse, math

W, H, L, R, T, B = 640, 400, 70, 20, 40, 50


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("points")
    ap.add_argument("out")
    ap.add_argument("--title", default="Test accuracy against batch-1 latency")
    args = ap.parse_args()
    rows = []
    for line in open(args.points):
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, ms, acc, *where = line.rstrip("\n").split("\t")
        rows.append((name, kind, float(ms), float(acc), where[0] if where else "above"))
    xs = [math.log10(r[2]) for r in rows]
    ys = [r[3] for r in rows]
    x0, x1 = math.floor(min(xs) * 4) / 4, math.ceil(max(xs) * 4) / 4
    y0, y1 = math.floor(min(ys) * 50) / 50, math.ceil(max(ys) * 50) / 50
    sx = lambda v: L + (math.log10(v) - x0) / (x1 - x0) * (W - L - R)
    sy = lambda v: H - B - (v - y0) / (y1 - y0) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="13">{args.title}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">batch-1 latency, one thread (ms, log scale)</text>',
           f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 {(T + H - B) / 2})">test accuracy</text>']
    for e in range(int(math.floor(x0)), int(math.ceil(x1)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if x0 <= math.log10(v) <= x1:
                out.append(f'<line x1="{sx(v):.1f}" y1="{H - B}" x2="{sx(v):.1f}" y2="{H - B + 4}" stroke="black"/>')
                out.append(f'<text x="{sx(v):.1f}" y="{H - B + 16}" text-anchor="middle">{v:g}</text>')
    k = 0
    while y0 + k * 0.02 <= y1 + 1e-9:
        v = y0 + k * 0.02
        out.append(f'<line x1="{L - 4}" y1="{sy(v):.1f}" x2="{W - R}" y2="{sy(v):.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{L - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        k += 1
    front = sorted((r for r in rows if r[1] == "front"), key=lambda r: r[2])
    if front:
        path, best = [], -1.0
        for name, _, ms, acc, _ in front:
            if acc <= best:
                continue  # dominated in this measurement: not a step
            if path:
                path.append(f"L{sx(ms):.1f},{sy(best):.1f}")
            best = max(best, acc)
            path.append(("M" if not path else "L") + f"{sx(ms):.1f},{sy(best):.1f}")
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    for name, kind, ms, acc, where in rows:
        if kind == "front":
            out.append(f'<circle cx="{sx(ms):.1f}" cy="{sy(acc):.1f}" r="4" fill="#1f77b4"><title>{name}: {acc:.4f}, {ms:.3f} ms</title></circle>')
            out.append(f'<text x="{sx(ms) + 6:.1f}" y="{sy(acc) + 12:.1f}" fill="#1f77b4">{name}</text>')
        else:
            out.append(f'<rect x="{sx(ms) - 4:.1f}" y="{sy(acc) - 4:.1f}" width="8" height="8" fill="#d62728"><title>{name}: {acc:.4f}, {ms:.3f} ms</title></rect>')
            right = sx(ms) > W - 160
            anchor = ' text-anchor="end"' if right else ""
            # A fifth column "below" puts the label under its point; near the right edge labels go left of it.
            dy = 16 if where == "below" else -6
            out.append(f'<text x="{sx(ms) + (-7 if right else 7):.1f}" y="{sy(acc) + dy:.1f}" fill="#d62728"{anchor}>{name}</text>')
    out.append("</svg>")
    open(args.out, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
