import Foundation
import Plot

typealias Body = Node<HTML.BodyContext>

/// An SVG element built with Plot (which escapes every attribute and text).
func svg(_ name: String, _ attributes: [(String, String)], _ children: [Body] = []) -> Body {
    .element(named: name, nodes: attributes.map { Body.attribute(named: $0.0, value: $0.1) } + children)
}

/// A chart of points and lines as inline SVG: axes with round-number
/// ticks (or powers of ten on a log axis), one colour per series, a legend,
/// and a tooltip on every point. Non-finite values are left out (the page
/// says how many).
struct Chart {
    struct Point {
        var x: Double, y: Double
        var tip: String = ""
        /// Where a click on the point leads (a child's section).
        var link: String? = nil
    }

    struct Series {
        enum Style { case dots, line, steps, crosses }
        var name: String
        var color: String
        var points: [Point]
        var style: Style = .dots
    }

    struct Bars {
        /// One stack per x: (value, colour) from the bottom up.
        var stacks: [(x: Double, parts: [Double])]
        var colors: [String]
        var names: [String]
    }

    var title: String
    var xLabel: String, yLabel: String
    var series: [Series] = []
    var bars: Bars? = nil
    var logX = false
    var width = 660.0, height = 300.0
    let left = 58.0, right = 16.0, top = 40.0, bottom = 44.0

    var finite: [Point] { series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) } }

    func render() -> Body {
        var xs = finite.map(\.x), ys = finite.map(\.y)
        if let bars {
            xs += bars.stacks.map(\.x)
            ys += bars.stacks.map { $0.parts.reduce(0, +) } + [0]
        }
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else {
            return .div(.class("chart empty"), .h3(.text(title)), .p(.text("nothing to draw yet")))
        }
        let xr = logX ? (log10(x0), log10(x1)) : Chart.padded(x0, x1)
        let yr = Chart.padded(y0, y1)
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double {
            let v = logX ? log10(x) : x
            return left + (xr.1 > xr.0 ? (v - xr.0) / (xr.1 - xr.0) : 0.5) * plotW
        }
        func py(_ y: Double) -> Double { top + plotH - (yr.1 > yr.0 ? (y - yr.0) / (yr.1 - yr.0) : 0.5) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var nodes: [Body] = [svg("text", [("x", f(left)), ("y", "14"), ("class", "title")], [.text(title)])]
        // Axes, grid and ticks.
        for t in Chart.ticks(yr.0, yr.1) {
            nodes.append(svg("line", [("x1", f(left)), ("x2", f(left + plotW)), ("y1", f(py(t))), ("y2", f(py(t))), ("class", "grid")]))
            nodes.append(svg("text", [("x", f(left - 6)), ("y", f(py(t) + 3)), ("class", "tick"), ("text-anchor", "end")], [.text(Chart.label(t))]))
        }
        let xticks = logX ? Chart.logTicks(xr.0, xr.1) : Chart.ticks(xr.0, xr.1)
        for t in xticks {
            nodes.append(svg("line", [("x1", f(px(t))), ("x2", f(px(t))), ("y1", f(top)), ("y2", f(top + plotH)), ("class", "grid")]))
            nodes.append(svg("text", [("x", f(px(t))), ("y", f(top + plotH + 14)), ("class", "tick"), ("text-anchor", "middle")], [.text(Chart.label(t))]))
        }
        nodes.append(svg("rect", [("x", f(left)), ("y", f(top)), ("width", f(plotW)), ("height", f(plotH)), ("class", "frame")]))
        nodes.append(svg("text", [("x", f(left + plotW / 2)), ("y", f(height - 8)), ("class", "axis"), ("text-anchor", "middle")], [.text(xLabel + (logX ? " (log)" : ""))]))
        nodes.append(svg("text", [("x", "12"), ("y", f(top + plotH / 2)), ("class", "axis"), ("text-anchor", "middle"),
                                  ("transform", "rotate(-90 12 \(f(top + plotH / 2)))")], [.text(yLabel)]))
        // Bars first, so points sit on top.
        if let bars {
            let barW = max(1, min(14, plotW / Double(max(bars.stacks.count, 1)) * 0.8))
            for stack in bars.stacks {
                var base = 0.0
                for (i, part) in stack.parts.enumerated() where part > 0 && part.isFinite {
                    nodes.append(svg("rect", [("x", f(px(stack.x) - barW / 2)), ("y", f(py(base + part))), ("width", f(barW)),
                                              ("height", f(max(0.5, py(base) - py(base + part)))), ("fill", bars.colors[i])],
                                     [svg("title", [], [.text("\(bars.names[i]) \(String(format: "%.2f", part))")])]))
                    base += part
                }
            }
        }
        for s in series {
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) }
            switch s.style {
            case .line, .steps:
                guard !pts.isEmpty else { continue }
                var path = "M\(f(px(pts[0].x))),\(f(py(pts[0].y)))"
                for b in pts.dropFirst() {
                    path += s.style == .steps ? " H\(f(px(b.x))) V\(f(py(b.y)))" : " L\(f(px(b.x))),\(f(py(b.y)))"
                }
                nodes.append(svg("path", [("d", path), ("stroke", s.color), ("class", "series")]))
            case .dots, .crosses:
                for p in pts {
                    let tip = svg("title", [], [.text(p.tip)])
                    let mark = s.style == .dots
                        ? svg("circle", [("cx", f(px(p.x))), ("cy", f(py(p.y))), ("r", "3"), ("fill", s.color), ("class", "point")], [tip])
                        : svg("path", [("d", "M\(f(px(p.x) - 3)),\(f(py(p.y) - 3)) l6,6 m0,-6 l-6,6"), ("stroke", s.color), ("class", "cross")], [tip])
                    nodes.append(p.link.map { svg("a", [("href", $0)], [mark]) } ?? mark)
                }
            }
        }
        // Legend.
        var legend: [(String, String)] = series.map { ($0.name, $0.color) }
        if let bars { legend += zip(bars.names, bars.colors).map { ($0, $1) } }
        // Above the plot, so it hides no point.
        var lx = left
        for (name, color) in legend {
            nodes.append(svg("rect", [("x", f(lx)), ("y", "21"), ("width", "10"), ("height", "10"), ("fill", color)]))
            nodes.append(svg("text", [("x", f(lx + 14)), ("y", "30"), ("class", "legend")], [.text(name)]))
            lx += 24 + Double(name.count) * 5.5
        }
        return .div(.class("chart"), svg("svg", [("viewBox", "0 0 \(Int(width)) \(Int(height))"), ("width", "\(Int(width))"), ("height", "\(Int(height))"),
                                                 ("role", "img"), ("aria-label", title)], nodes))
    }

    /// A range with a little room around its points (a flat range gets some).
    static func padded(_ lo: Double, _ hi: Double) -> (Double, Double) {
        if hi <= lo { return (lo - max(abs(lo) * 0.1, 0.5), hi + max(abs(hi) * 0.1, 0.5)) }
        let pad = (hi - lo) * 0.05
        return (lo - pad, hi + pad)
    }

    /// Round-number ticks (steps of 1, 2 or 5 times a power of ten), about five.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo, (hi - lo).isFinite else { return [lo] }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = ceil(lo / step) * step
        while t <= hi + step * 1e-9 && out.count < 50 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    /// Powers of ten within a log10 range (with 2 and 5 between them when it spans little).
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        var out: [Double] = []
        let first = Int(floor(lo)), last = Int(ceil(hi))
        for e in first...max(first, last) {
            for m in (last - first <= 2 ? [1.0, 2, 5] : [1.0]) {
                let v = m * pow(10, Double(e))
                if log10(v) >= lo - 1e-9 && log10(v) <= hi + 1e-9 { out.append(v) }
            }
        }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e6 { return String(format: "%gM", v / 1e6) }
        if abs(v) >= 1e4 { return String(format: "%gk", v / 1e3) }
        return String(format: "%g", (v * 1e4).rounded() / 1e4)
    }
}
