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

    @Option(help: ArgumentHelp("A cell search's winner: stack N normal cells per stage instead of the search's (the papers stack more for the final training).", valueName: "N"))
    var cells: Int?

    @Option(help: ArgumentHelp("A cell search's winner: C channels in the first stage instead of the search's (then scaled by --width).", valueName: "C"))
    var channels: Int?

    @Option(help: ArgumentHelp("A cell search's winner: the stem convolution's stride instead of the search's (2: every cell at half the resolution).", valueName: "S"))
    var stemStride: Int?

    @OptionGroup var flags: ImageTrainingFlags

    func validate() throws {
        try FlagCheck.real(width, "--width", above: 0)
        guard width <= 16 else { throw ValidationError("--width must be at most 16, got \(width)") }
        try FlagCheck.int(cells, "--cells", 0...12)
        try FlagCheck.int(channels, "--channels", 1...1024)
        try FlagCheck.int(stemStride, "--stem-stride", 1...2)
    }

    /// The scaling, as it names files and recipes ("" when none).
    var scaling: String {
        var parts: [String] = []
        if let cells { parts.append("n\(cells)") }
        if let channels { parts.append("c\(channels)") }
        if let stemStride { parts.append("s\(stemStride)") }
        if width != 1 { parts.append("x" + String(format: "%g", width).replacingOccurrences(of: ".", with: "_")) }
        return parts.joined(separator: "_")
    }

    /// The recipe, scaling included, as one line (see ImageTrainingFlags.key).
    var key: String { "width \(width); " + (cells.map { "cells \($0); " } ?? "") + (channels.map { "channels \($0); " } ?? "")
        + (stemStride.map { "stem stride \($0); " } ?? "") + flags.key }
    var summary: String { key.replacingOccurrences(of: flags.key, with: flags.summary) }

    /// The search's space as the final training scales it: more cells per
    /// stage, more channels (a cell search only).
    func scaled(_ shape: ChildShape, folder: String) throws -> ChildShape {
        guard cells != nil || channels != nil || stemStride != nil else { return shape }
        guard var space = shape.space as? CellSpace else {
            throw CommandError("\(folder): error: --cells, --channels and --stem-stride scale a cell search's winner; this run searched --space \(shape.space.kind.rawValue) (widen it with --width)")
        }
        if let cells { space.cellsPerStage = cells }
        if let channels { space.channels = channels }
        if let stemStride { space.stemStride = stemStride }
        var out = shape
        out.space = space
        return out
    }

    /// Writes trial `trial`'s child (scaled by --cells, --channels and
    /// --width) into the run folder; its path.
    func writeChild(of trial: TrialStore.Trial, shape: ChildShape, folder: String) throws -> String {
        if let problem = shape.space.problem(with: trial.decisions) {
            throw CommandError("\(folder): error: trial \(trial.id): \(problem) (the space in search.json)")
        }
        let name = "trial\(trial.id)" + (scaling.isEmpty ? "" : "_" + scaling)
        let path = "\(folder)/\(name).nasir"
        try scaled(shape, folder: folder).ir(trial.decisions, name: name, width: width).writeWhole(to: path)
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
            print("retraining trial \(chosen.id) (search reward \(String(format: "%.4f", chosen.reward)))\(final.scaling.isEmpty ? "" : ", scaled \(final.scaling)"): \(file)")
            try final.flags.train(file, save: save, resume: resume)
        }
    }
}
