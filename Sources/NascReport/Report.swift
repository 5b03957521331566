import Foundation
import NascIR
import NascSearch
import Plot

/// `nasc report`: one self-contained HTML page (inline SVG, CSS and a few
/// lines of script; nothing fetched) that shows one or more searches:
/// rewards in order with the best so far, accuracy against cost with the
/// Pareto front, what the strategy did (the controller's entropy, the
/// population's spread), where the time went, the leaderboard, and the top
/// children drawn with Graphviz beside their IR.
public enum Report {
    public struct Options {
        /// Children per run shown in full (drawing, IR).
        public var top = 5
        public init() {}
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

    public static func html(_ runs: [RunData], options: Options = Options(), generated: Date = Date()) -> String {
        let stamp = ISO8601DateFormatter().string(from: generated)
        let page = HTML(
            .head(.meta(.charset(.utf8)), .title("nasc report: \(runs.map(\.name).joined(separator: ", "))"), .style(css)),
            .body(
                .h1("nasc search report"),
                .p(.class("meta"), .text("\(runs.count) run(s), generated \(stamp) by nasc report. Children are numbered in the order they finished.")),
                summary(runs),
                .h2("Rewards"),
                rewardChart(runs),
                .h2("Accuracy against cost"),
                .p(.class("meta"), .text("Validation accuracy of every child that trained; the black line joins the children no other beats on both accuracy and cost (the Pareto front).")),
                .div(.class("row"), costChart(runs, "MFLOP per image", { Double($0.flops) / 1e6 }, { $0.flops }),
                     costChart(runs, "parameters", { Double($0.parameters) }, { $0.parameters })),
                latencyChart(runs),
                .if(runs.contains { !$0.front.isEmpty }, frontTable(runs)),
                .h2("What the strategy did"),
                .div(.class("row"), .forEach(runs.enumerated()) { i, run in strategyChart(run, color: palette[i % palette.count]) }),
                .h2("Where the time went"),
                .forEach(runs.enumerated()) { i, run in timeSection(run, index: i) },
                .h2("Leaderboard"),
                .p(.class("meta"), .text("Click a column to sort, a trial to see its child. Rewards are validation accuracy cubed (times the cost factor when the search had a target).")),
                leaderboard(runs, top: options.top),
                .h2("Children"),
                .forEach(runs.enumerated()) { i, run in topChildren(run, index: i, top: options.top) },
                .script(.raw(sortScript))
            )
        )
        return page.render(indentedBy: .spaces(1))
    }

    static func color(_ i: Int) -> String { palette[i % palette.count] }

    static func summary(_ runs: [RunData]) -> Body {
        .table(.class("summary"),
               .tr(.th("run"), .th("strategy"), .th("children"), .th("best reward"), .th("best accuracy"), .th("wall clock"),
                   .th("compile"), .th("train"), .th("evaluate"), .th("workers busy")),
               .forEach(runs.enumerated()) { i, run in
                   let byStatus = Dictionary(grouping: run.trials, by: \.status).mapValues(\.count).sorted { $0.key < $1.key }
                   let best = run.best(1).first
                   let time = run.time
                   return .tr(.td(.span(.class("swatch"), .style("background:\(color(i))")), .text(run.name)), .td(.text(run.strategy)),
                              .td(.text("\(run.trials.count)" + (byStatus.isEmpty ? "" : " (" + byStatus.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"))),
                              .td(.text(best.map { fmt($0.reward) } ?? "-")), .td(.text(best.map { fmt($0.validationAccuracy) } ?? "-")),
                              .td(.text(clock(time.wall))), .td(.text(clock(time.compile))), .td(.text(clock(time.train))), .td(.text(clock(time.evaluate))),
                              .td(.text(time.wall > 0 ? String(format: "%.0f%% of %d", time.busy * 100, time.workers) : "-")))
               })
    }

    static func rewardChart(_ runs: [RunData]) -> Body {
        var chart = Chart(title: "Reward of every child, and the best so far", xLabel: "child", yLabel: "reward")
        for (i, run) in runs.enumerated() {
            let points = run.trials.enumerated().compactMap { k, t -> Chart.Point? in
                t.succeeded ? Chart.Point(x: Double(k + 1), y: t.reward, tip: "\(run.name) trial \(t.id): reward \(fmt(t.reward)), accuracy \(fmt(t.validationAccuracy))",
                                          link: "#r\(i)-t\(t.id)") : nil
            }
            chart.series.append(.init(name: run.name, color: color(i), points: points))
            chart.series.append(.init(name: "\(run.name): best so far", color: color(i), points: run.bestSoFar.map { Chart.Point(x: Double($0.index), y: $0.reward) }, style: .steps))
            let failed = run.trials.enumerated().filter { !$0.element.succeeded }.map { k, t in
                Chart.Point(x: Double(k + 1), y: 0, tip: "\(run.name) trial \(t.id) \(t.status): \(t.error.prefix(200))")
            }
            if !failed.isEmpty { chart.series.append(.init(name: "\(run.name): failed", color: "#d62728", points: failed, style: .crosses)) }
        }
        let hidden = runs.flatMap(\.trials).filter { $0.succeeded && !$0.reward.isFinite }.count
        return .div(chart.render(), .if(hidden > 0, .p(.class("meta"), .text("\(hidden) child(ren) with a non-finite reward are not drawn."))))
    }

    static func costChart(_ runs: [RunData], _ label: String, _ x: @escaping (TrialStore.Trial) -> Double, _ cost: @escaping (TrialStore.Trial) -> Int) -> Body {
        var chart = Chart(title: "Accuracy against \(label)", xLabel: label, yLabel: "validation accuracy", logX: true)
        chart.width = 480
        for (i, run) in runs.enumerated() {
            chart.series.append(.init(name: run.name, color: color(i), points: run.succeeded.map {
                Chart.Point(x: x($0), y: $0.validationAccuracy, tip: "trial \($0.id): accuracy \(fmt($0.validationAccuracy)), \(label) \(Chart.label(x($0)))", link: "#r\(i)-t\($0.id)")
            }))
        }
        let front = RunData.paretoFront(runs.flatMap(\.succeeded), cost: cost)
        chart.series.append(.init(name: "Pareto front", color: "#222222", points: front.map { Chart.Point(x: x($0), y: $0.validationAccuracy) }, style: .steps))
        return chart.render()
    }

    /// Accuracy against measured latency, for the children that have one
    /// (ChildLatency: batch 1, one thread, measured by their worker).
    static func latencyChart(_ runs: [RunData]) -> Body {
        let measured = runs.map { run in run.succeeded.filter { $0.latencyMs != nil } }
        guard measured.contains(where: { !$0.isEmpty }) else {
            return .p(.class("meta"), .text("Measured latency: no child of these runs has one (their workers predate the measurement, or none finished)."))
        }
        var chart = Chart(title: "Accuracy against measured latency", xLabel: "batch-1 latency, one thread (ms)", yLabel: "validation accuracy", logX: true)
        chart.width = 480
        for (i, run) in runs.enumerated() {
            chart.series.append(.init(name: run.name, color: color(i), points: measured[i].map {
                Chart.Point(x: $0.latencyMs!, y: $0.validationAccuracy, tip: "trial \($0.id): accuracy \(fmt($0.validationAccuracy)), \(String(format: "%.3f", $0.latencyMs!)) ms",
                            link: "#r\(i)-t\($0.id)")
            }))
        }
        // Microseconds as the front's integer cost.
        let front = RunData.paretoFront(measured.flatMap { $0 }, cost: { Int(($0.latencyMs! * 1000).rounded()) })
        chart.series.append(.init(name: "Pareto front", color: "#222222", points: front.map { Chart.Point(x: $0.latencyMs!, y: $0.validationAccuracy) }, style: .steps))
        return .div(.class("row"), chart.render())
    }

    /// The fronts multi-objective searches ended with: their children, one IR file each in the run's front/.
    static func frontTable(_ runs: [RunData]) -> Body {
        .div(.h3("The searches' Pareto fronts"),
             .p(.class("meta"), .text("Children no other beats on every objective at once, re-evaluated where the search re-evaluated them (accuracy on its larger split); each is RUN/front/trialK.nasir, retrained with nasc retrain RUN --trial K.")),
             .table(.class("summary"),
                    .tr(.th("run"), .th("objectives"), .th("trial"), .th("accuracy"), .th("latency ms"), .th("parameters"), .th("MFLOP/image"), .th("re-evaluated")),
                    .forEach(runs.enumerated()) { i, run in
                        .forEach(run.front) { m in
                            .tr(.td(.text(run.name)), .td(.text(run.objectives.flag)), .td(.a(.href("#r\(i)-t\(m.trial.id)"), .text("\(m.trial.id)"))),
                                .td(.text(fmt(m.accuracy))), .td(.text(m.trial.latencyMs.map { String(format: "%.3f", $0) } ?? "")),
                                .td(.text("\(m.trial.parameters)")), .td(.text(String(format: "%.2f", Double(m.trial.flops) / 1e6))),
                                .td(.text(m.reevaluated ? "yes" : "no")))
                        }
                    }))
    }

    static func strategyChart(_ run: RunData, color: String) -> Body {
        let entropies = run.updates.compactMap { u in u.entropy.map { Chart.Point(x: Double(u.trials), y: $0, tip: "after \(u.trials) children: \(fmt($0)) nats") } }
        if !entropies.isEmpty {
            var chart = Chart(title: "\(run.name): the controller's entropy", xLabel: "children learned from", yLabel: "nats")
            chart.width = 480
            chart.series.append(.init(name: "entropy of its children", color: color, points: entropies, style: .line))
            if let space = run.shape?.space {
                let uniform = space.uniformEntropy
                chart.series.append(.init(name: "uniform", color: "#999999", points: [.init(x: entropies.first!.x, y: uniform), .init(x: entropies.last!.x, y: uniform)], style: .line))
            }
            return chart.render()
        }
        // Evolution and random: the spread of the last `population` rewards.
        let rewards = run.trials.map { $0.succeeded && $0.reward.isFinite ? $0.reward : 0 }
        var chart = Chart(title: "\(run.name): rewards of the last \(run.population) children (\(run.strategy))", xLabel: "child", yLabel: "reward")
        chart.width = 480
        var low: [Chart.Point] = [], mean: [Chart.Point] = [], high: [Chart.Point] = []
        for k in rewards.indices {
            let window = rewards[max(0, k + 1 - run.population)...k]
            low.append(.init(x: Double(k + 1), y: window.min()!))
            mean.append(.init(x: Double(k + 1), y: window.reduce(0, +) / Double(window.count)))
            high.append(.init(x: Double(k + 1), y: window.max()!))
        }
        chart.series = [.init(name: "best", color: color, points: high, style: .line), .init(name: "mean", color: "#555555", points: mean, style: .line),
                        .init(name: "worst", color: "#bbbbbb", points: low, style: .line)]
        return chart.render()
    }

    static func timeSection(_ run: RunData, index: Int) -> Body {
        var chart = Chart(title: "\(run.name): seconds per child", xLabel: "child", yLabel: "seconds")
        chart.bars = .init(stacks: run.trials.enumerated().map { (Double($0 + 1), [$1.compileSeconds, $1.trainSeconds, $1.evaluateSeconds]) },
                           colors: ["#f0a35e", color(index), "#8fbf6a"], names: ["compile", "train", "evaluate"])
        let t = run.time
        let idle = max(0, t.wall * Double(t.workers) - t.compile - t.train - t.evaluate)
        return .div(chart.render(),
                    .p(.class("meta"), .text("Total: compile \(clock(t.compile)), train \(clock(t.train)), evaluate \(clock(t.evaluate)), over \(clock(t.wall)) of wall clock "
                                             + "on \(t.workers) worker(s): idle or between children \(clock(idle)) of worker time.")))
    }

    static func leaderboard(_ runs: [RunData], top: Int) -> Body {
        .table(.class("sortable leaderboard"),
               .thead(.tr(.th("run"), .th("rank"), .th("trial"), .th("rung"), .th("reward"), .th("accuracy"), .th("95% interval"), .th("parameters"), .th("MFLOP/image"),
                          .th("latency ms"), .th("compile s"), .th("train s"), .th("evaluate s"), .th("status"), .th("worker"), .th("hash"))),
               .tbody(.forEach(runs.enumerated()) { i, run in
                   .forEach(run.leaderboard.enumerated()) { rank, t in
                       .tr(.class(t.succeeded ? "" : "failed"), .td(.text(run.name)), .td(.text("\(rank + 1)")),
                                  .td(.a(.href("#r\(i)-t\(t.id)"), .text("\(t.id)"))),
                                  .td(.text("\(t.rung)")), .td(.text(fmt(t.reward))), .td(.text(fmt(t.validationAccuracy))),
                                  .td(.text(AccuracyInterval(accuracy: t.validationAccuracy, count: run.validationImages).description)), .td(.text("\(t.parameters)")),
                                  .td(.text(String(format: "%.2f", Double(t.flops) / 1e6))), .td(.text(t.latencyMs.map { String(format: "%.3f", $0) } ?? "")),
                                  .td(.text(String(format: "%.2f", t.compileSeconds))),
                                  .td(.text(String(format: "%.2f", t.trainSeconds))), .td(.text(String(format: "%.2f", t.evaluateSeconds))),
                                  .td(.attribute(named: "title", value: t.error), .text(t.status)), .td(.text(t.worker)), .td(.code(.text(String(t.hash.prefix(12))))))
                   }
               }))
    }

    static func topChildren(_ run: RunData, index: Int, top: Int) -> Body {
        let best = run.best(top)
        guard let shape = run.shape else { return .p(.text("\(run.name): its settings do not say which space its children come from.")) }
        return .div(.h3(.text("\(run.name)")), .if(best.isEmpty, .p(.text("no child has trained yet"))),
                    .forEach(Array(best.enumerated())) { rank, t in
            let ir = shape.space.makesChild(decisions: t.decisions.count) ? shape.ir(t.decisions, name: "trial\(t.id)") : "(its decisions make no child of this space)"
            var drawing: Body = .p(.class("meta"), .text("(install Graphviz's dot to draw it)"))
            // A cell child as its two cells (the network stacks them); any other as its graph.
            let dot: String? = (shape.space as? CellSpace).flatMap { cells in
                cells.problem(with: t.decisions) == nil ? CellDot.text(cells, t.decisions, title: "trial \(t.id)") : nil
            } ?? (try? Verifier.parseAndVerify(Array(ir.utf8))).map { GraphDot.text($0) }
            if Graphviz.executable != nil, let dot, let svg = try? Graphviz.svg(dot) {
                // dot's SVG, without its XML prologue, scaled to the column.
                let body = svg.range(of: "<svg").map { String(svg[$0.lowerBound...]) } ?? svg
                drawing = .div(.class("drawing"), .raw(body))
            }
            return .div(.class("child"), .id("r\(index)-t\(t.id)"),
                        .h4(.text("#\(rank + 1): trial \(t.id), reward \(fmt(t.reward)), validation accuracy \(fmt(t.validationAccuracy))")),
                        .p(.class("meta"), .text("\(t.parameters) parameters, \(String(format: "%.2f", Double(t.flops) / 1e6)) MFLOP per image, "
                                                 + "decisions \(t.decisions.map(String.init).joined(separator: ",")), hash \(t.hash.prefix(16))")),
                        drawing,
                        .element(named: "details", nodes: [.element(named: "summary", text: "IR"), .pre(.text(ir))]))
        }, otherChildren(run, index: index, shape: shape, except: Set(best.map(\.id))))
    }

    /// Every child not drawn above, folded: what the leaderboard and the
    /// charts link to, with its figures, its error if it failed, and its IR.
    static func otherChildren(_ run: RunData, index: Int, shape: ChildShape, except top: Set<Int>) -> Body {
        let rest = run.leaderboard.filter { !top.contains($0.id) }
        return .if(!rest.isEmpty, .div(.h4(.text("\(run.name): every other child")), .forEach(rest) { t in
            let ir = shape.space.makesChild(decisions: t.decisions.count) ? shape.ir(t.decisions, name: "trial\(t.id)") : "(its decisions make no child of this space)"
            return .element(named: "details", nodes: [
                .class("child"), .id("r\(index)-t\(t.id)"),
                .element(named: "summary", text: "trial \(t.id): \(t.status), reward \(fmt(t.reward)), validation accuracy \(fmt(t.validationAccuracy))"),
                .p(.class("meta"), .text("\(t.parameters) parameters, \(String(format: "%.2f", Double(t.flops) / 1e6)) MFLOP per image, "
                                         + "decisions \(t.decisions.map(String.init).joined(separator: ",")), hash \(t.hash.prefix(16))"
                                         + (t.error.isEmpty ? "" : "; \(t.error)"))),
                .pre(.text(ir))])
        }))
    }

    static func fmt(_ v: Double) -> String { v.isFinite ? String(format: "%.4f", v) : "\(v)" }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "-" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    static let css = """
        body { font: 14px/1.4 -apple-system, Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
        h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; } h4 { margin: 8px 0 2px; }
        .meta { color: #666; font-size: 12px; }
        table { border-collapse: collapse; font-size: 12px; } th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
        th { background: #f4f4f4; cursor: pointer; } td:first-child, th:first-child { text-align: left; }
        tr.failed td { color: #b33; }
        .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
        .row { display: flex; flex-wrap: wrap; gap: 12px; }
        .chart svg { background: #fff; } .chart .title { font-size: 13px; font-weight: bold; }
        .tick, .legend { font-size: 10px; fill: #444; } .axis { font-size: 11px; fill: #222; }
        .grid { stroke: #eee; } .frame { fill: none; stroke: #999; }
        .series { fill: none; stroke-width: 1.5; } .cross { stroke-width: 1.5; } .point { fill-opacity: 0.75; }
        .leaderboard { max-height: 480px; overflow: auto; display: block; }
        .child { border-top: 1px solid #eee; padding: 6px 0; } .drawing svg { max-width: 100%; height: auto; max-height: 900px; }
        pre { background: #f7f7f7; padding: 8px; font-size: 11px; overflow: auto; }
        """

    static let sortScript = """
        document.querySelectorAll('table.sortable th').forEach(function (th, column) {
          th.addEventListener('click', function () {
            var body = th.closest('table').tBodies[0];
            var rows = Array.prototype.slice.call(body.rows);
            var ascending = th.getAttribute('data-ascending') !== '1';
            rows.sort(function (a, b) {
              var x = a.cells[column].textContent, y = b.cells[column].textContent;
              var nx = parseFloat(x), ny = parseFloat(y);
              var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
              return ascending ? order : -order;
            });
            th.setAttribute('data-ascending', ascending ? '1' : '0');
            rows.forEach(function (row) { body.appendChild(row); });
          });
        });
        """
}
