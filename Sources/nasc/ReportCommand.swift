import ArgumentParser
import Foundation
import NascData
import NascReport
import NascSearch

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page showing one or more searches.",
        discussion: """
            The page has no external scripts, styles or fonts and opens \
            offline: the rewards of every child in order with the best so \
            far (one colour per run, so strategies compare at a glance), \
            accuracy against MFLOP and parameters with the Pareto front, the \
            controller's entropy (REINFORCE) or the population's spread \
            (evolution, random), seconds per child and where the time went, \
            the leaderboard (click a column to sort), and the top children \
            drawn with Graphviz's dot beside their IR. `nasc search --report` \
            rewrites RUN/report.html as the search goes.

            Examples:
              nasc report nasc-run --out report.html
              nasc report runs/reinforce runs/evolution runs/random --out compare.html
            """)

    @Argument(help: "Run folders (or postgresql:// URLs) of searches.")
    var runs: [String]

    @Option(help: "The HTML file to write.")
    var out = "report.html"

    @Option(help: "Children per run shown in full (drawing and IR).")
    var top = 5

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
        try FlagCheck.int(top, "--top", 0...1000)
    }

    func run() throws {
        try reportingErrors {
            try checkWritable(out, flag: "--out")
            let data = try runs.map { run -> RunData in
                let store = try StoreLocation.open(run)
                guard try store.settings() != nil else { throw CommandError("\(run): error: not a search run (its store holds no search settings)") }
                try StoreLocation.refuseCellSearch(store, run, "report")
                return try RunData(name: (run as NSString).lastPathComponent, store: store)
            }
            var options = Report.Options()
            options.top = top
            try Report.html(data, options: options).writeWhole(to: out)
            print("report: \(out) (\(data.map { "\($0.name): \($0.trials.filter { $0.rung == 0 }.count) children" }.joined(separator: ", ")))")
        }
    }
}
