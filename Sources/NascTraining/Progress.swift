import Foundation

/// Progress of long work: a bar with ETA and figures redrawn in place on a
/// terminal, plain lines (about every 10%) when the output is a file or pipe.
public final class Progress {
    let total: Int
    let label: String
    let start = Date()
    let terminal = isatty(fileno(stdout)) != 0
    var lastReport = -1

    public init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    public func update(_ done: Int, _ figures: String) {
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        if terminal {
            let width = 24, filled = width * done / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            print("\r\(label) [\(bar)] \(done)/\(total)  ETA \(Progress.clock(eta))  \(figures)\u{1B}[K", terminator: "")
            fflush(stdout)
        } else {
            let decile = 10 * done / total
            guard decile > lastReport else { return }
            lastReport = decile
            print("\(label) \(done)/\(total) (\(10 * decile)%), ETA \(Progress.clock(eta)), \(figures)")
            fflush(stdout)
        }
    }

    public func finish() {
        if terminal { print("\r\u{1B}[K", terminator: "") }
    }

    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
