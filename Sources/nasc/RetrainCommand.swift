import ArgumentParser
import Foundation
import NascData
import NascSearch
import NascTraining

/// How a search's child is trained for good: what `nasc retrain` and
/// `nasc correlate` share.
struct FinalTrainingFlags: ParsableArguments {
    @Option(help: "Scale every layer's filter count by this (the NAS papers widen the found network for its final training).")
    var width = 1.0

    @OptionGroup var flags: ImageTrainingFlags

    func validate() throws {
        try FlagCheck.real(width, "--width", above: 0)
        guard width <= 16 else { throw ValidationError("--width must be at most 16, got \(width)") }
    }

    /// The recipe, widening included, as one line (see ImageTrainingFlags.key).
    var key: String { "width \(width); " + flags.key }
    var summary: String { "width \(width); " + flags.summary }

    /// Writes trial `trial`'s child (widened by --width) into the run folder; its path.
    func writeChild(of trial: TrialStore.Trial, shape: ChildShape, folder: String) throws -> String {
        if let problem = shape.space.problem(with: trial.decisions) {
            throw CommandError("\(folder): error: trial \(trial.id): \(problem) (the space in search.json)")
        }
        let widened = width == 1 ? "" : "_x" + String(format: "%g", width).replacingOccurrences(of: ".", with: "_")
        let name = "trial\(trial.id)\(widened)"
        let path = "\(folder)/\(name).nasir"
        try shape.ir(trial.decisions, name: name, width: width).writeWhole(to: path)
        return path
    }

    /// The shape a run folder's search.json records, or an error saying what the folder is instead.
    static func shape(of folder: String, command: String) throws -> ChildShape {
        if let shape = ChildShape.recorded(in: folder) { return shape }
        if let store = try? StoreLocation.open(folder: folder, url: nil) { try StoreLocation.refuseCellSearch(store, folder, command) }
        throw CommandError("\(folder): error: not a search run folder (no readable search.json)")
    }
}

struct Retrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a search's winner (the best child after its re-evaluation, or --trial K) fully and report its test accuracy.",
        discussion: """
            Example:
              nasc retrain nasc-run --epochs 10 --save best.ckpt
            """)

    @Argument(help: "A run folder written by nasc search.")
    var folder: String

    @Option(help: "Retrain this trial instead of the winner.")
    var trial: Int?

    @Option(help: "Write the trained weights here after every epoch.")
    var save: String?

    @Option(help: "Resume from this checkpoint (written by --save of the same retraining).")
    var resume: String?

    @OptionGroup var final: FinalTrainingFlags

    func validate() throws {
        try FlagCheck.int(trial, "--trial", 1...Int.max)
    }

    func run() throws {
        Interruption.install()
        try reportingErrors {
            let shape = try FinalTrainingFlags.shape(of: folder, command: "retrain")
            let store = try StoreLocation.open(folder: folder, url: nil)
            let trials = try store.all(), best = try store.winner()
            guard let chosen = trial.map({ k in trials.first { $0.id == k } }) ?? best else {
                throw CommandError("\(folder): error: \(trial.map { "no trial \($0)" } ?? "no trials yet")")
            }
            let file = try final.writeChild(of: chosen, shape: shape, folder: folder)
            print("retraining trial \(chosen.id) (search reward \(String(format: "%.4f", chosen.reward)))\(final.width == 1 ? "" : ", filters x\(final.width)"): \(file)")
            try final.flags.train(file, save: save, resume: resume)
        }
    }
}
