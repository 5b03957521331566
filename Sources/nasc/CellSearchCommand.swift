import ArgumentParser
import Foundation
import NascData
import NascRuntime
import NascSearch
import NascTraining

struct SearchCells: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-cells",
        abstract: "Search recurrent cells on Penn Treebank (the NAS-RL cell search; nasc search --space rnn-cell).",
        discussion: """
            Each child is a cell of the NAS-RL recurrent space (a tree of \
            --base leaves; per node a combination, add or elem_mult, and an \
            activation; a cell inject and two cell indices), trained as a small \
            language model on the first --train-words words of Penn Treebank \
            and rewarded c / ppl^2 (the paper's reward, c = 80), ppl its \
            perplexity on the first --validation-words validation words. \
            Trials go to RUN/trials.db (its val_accuracy column holds the \
            perplexity); running again on the same folder continues the search. \
            The best cell is written to RUN/best.nasir at --final-hidden units, \
            ready for `nasc train-lm`. `nasc search --space rnn-cell` runs the \
            same search (there the proxy's layers are --lm-layers and its \
            text folder --text).

            Example:
              make ptb
              nasc search-cells --children 60 --out cells-run
              nasc train-lm cells-run/best.nasir --save best-cell.ckpt
            """)

    @OptionGroup(title: "Strategy") var strategyFlags: StrategyFlags

    @Option(help: "Cells to evaluate.")
    var children = 60

    @Option(help: "Leaves of the cell's tree (a power of two; the paper: 8).")
    var base = 8

    @Option(help: "Layers of the proxy model (`nasc search --space rnn-cell`: --lm-layers).")
    var layers = 1

    @OptionGroup(title: "Proxy") var proxyFlags: RNNCellProxyFlags

    @Option(help: "Epochs per cell.")
    var epochs = 1

    @Option(help: "The cells' learning rate (plain SGD, gradients clipped to norm 5).")
    var lr = 1.0

    @OptionGroup var dataFlags: TextDataFlags

    @OptionGroup var threadFlags: ThreadFlags

    @Option(name: .customLong("out"), help: "Run folder.")
    var directory = "cells-run"

    func validate() throws {
        try FlagCheck.int(children, "--children", 1...1_000_000)
        guard base >= 2, base <= 64, base & (base - 1) == 0 else { throw ValidationError("--base must be a power of two from 2 to 64") }
        try FlagCheck.int(layers, "--layers", 1...8)
        try FlagCheck.int(epochs, "--epochs", 1...1000)
        try FlagCheck.real(lr, "--lr", above: 0)
    }

    func run() throws {
        Interruption.install()
        var o = CellSearch.Options()
        o.children = children
        o.epochs = epochs
        o.learningRate = lr
        var proxy = proxyFlags
        proxy.lmLayers = layers
        try proxy.search(o, space: RNNCellSpace(base: base), text: dataFlags.data, strategy: strategyFlags, threads: threadFlags.threads, directory: directory)
    }
}

/// The proxy language model that rewards each recurrent cell, and the run
/// of that search: `search --space rnn-cell` and its alias `search-cells`.
struct RNNCellProxyFlags: ParsableArguments {
    @Option(help: "rnn-cell: units of the proxy model's cell.")
    var hidden = 64

    @Option(name: .customLong("lm-layers"), help: "rnn-cell: layers of the proxy model.")
    var lmLayers = 1

    @Option(help: "rnn-cell: training words per cell (the first ones of the training text).")
    var trainWords = 100_000

    @Option(help: "rnn-cell: validation words for the reward.")
    var validationWords = 20_000

    @Option(help: "rnn-cell: units of the best cell written to RUN/best.nasir (the reference LSTM's: 200).")
    var finalHidden = 200

    func validate() throws {
        try FlagCheck.int(hidden, "--hidden", 1...4096)
        try FlagCheck.int(finalHidden, "--final-hidden", 1...4096)
        try FlagCheck.int(lmLayers, "--lm-layers", 1...8)
        try FlagCheck.int(trainWords, "--train-words", 100...100_000_000)
        try FlagCheck.int(validationWords, "--validation-words", 100...100_000_000)
    }

    /// Runs the recurrent cell search `o` (children, epochs and learning
    /// rate set) with these proxy flags, and prints its leaderboard.
    func search(_ options: CellSearch.Options, space: RNNCellSpace, text: String, strategy: StrategyFlags, threads: Int, directory: String) throws {
        try reportingErrors(whenStopped: { "every finished cell is recorded in \(directory)/trials.db: run the same command again to continue" }) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw CommandError("\(directory): error: --out names a file, not a folder")
            }
            let words: PennTreebank
            do { words = try PennTreebank.load(directory: text) } catch let e as DatasetError { throw CommandError(e.description) }
            var o = options
            o.strategy = strategy.strategy
            o.perUpdate = strategy.perUpdate ?? 5
            o.space = space
            o.hidden = hidden
            o.layers = lmLayers
            o.trainWords = trainWords
            o.validationWords = validationWords
            o.controllerLearningRate = strategy.controllerLr
            o.entropyWeight = strategy.entropyWeight
            o.seed = strategy.seed
            o.execution = ExecutionSettings(threads: threads)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let outcome: CellSearch.Outcome
            do {
                let lock = try CellSearch.lock(directory)
                defer { withExtendedLifetime(lock) {} }
                let text = CellSearch.Text(vocabulary: words.vocabulary.count, train: words.train, validation: words.valid)
                outcome = try CellSearch(options: o, store: try TrialStore(path: "\(directory)/trials.db"), text: text).run()
            } catch let e as SearchError { throw CommandError(e.description) }
            let ranked = outcome.trials.filter { $0.status == "ok" || $0.status == "cached" }.sorted { $0.reward > $1.reward }
            print("\nleaderboard (\(ranked.count) of \(outcome.trials.count) cells trained):")
            print("  rank  trial  perplexity  reward    parameters  decisions")
            for (k, t) in ranked.prefix(5).enumerated() {
                print(String(format: "  %4d  %5d  %10.2f  %.6f  %10d  ", k + 1, t.id, t.validationAccuracy, t.reward, t.parameters)
                      + t.decisions.map(String.init).joined(separator: ","))
            }
            let failed = outcome.trials.count - ranked.count
            if failed > 0 { print("  (\(failed) cells did not train: see the status and error columns of \(directory)/trials.db)") }
            if let best = outcome.best {
                let ir = o.space.ir(best.decisions, name: "cell\(best.id)", inputSize: finalHidden, hidden: finalHidden)
                try ir.writeWhole(to: "\(directory)/best.nasir")
                print("best cell: trial \(best.id), written at \(finalHidden) units to \(directory)/best.nasir")
            }
        }
    }
}
