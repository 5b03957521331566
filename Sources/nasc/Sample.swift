import ArgumentParser
import NascIR
import NascSearch

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a child of a search space as IR: a random one, or the one given decisions make.",
        discussion: """
            The first line is a comment with the child's decisions, so any \
            child can be made again with --decisions. `cnn` is the space \
            `nasc search` explores; `rnn-cell` is the NAS-RL recurrent cell \
            space (a tree of base --base over x_t and h_{t-1}, with the \
            memory cell's inject and indices), whose cells are IR like any \
            other graph.

            Examples:
              nasc sample --layers 4 --pool-every 1 --seed 3
              nasc sample --space rnn-cell --seed 1 > cell.nasir && nasc gradcheck cell.nasir --loss h
              nasc sample --layers 2 --decisions 1,1,2,0,3,3,1
            """)

    enum Space: String, ExpressibleByArgument, CaseIterable { case cnn, rnnCell = "rnn-cell" }

    @Option(help: "Search space: cnn or rnn-cell.")
    var space: Space = .cnn

    @OptionGroup(title: "cnn space") var spaceFlags: SpaceFlags

    @Option(help: "The tree's base, a power of two (rnn-cell).")
    var base = 8

    @Option(help: "Seed of the random child.")
    var seed: UInt64 = 0

    @Option(help: "The child's decisions, comma-separated (instead of a random child).")
    var decisions: String?

    func validate() throws {
        guard base >= 2, base <= 64, base & (base - 1) == 0 else { throw ValidationError("--base must be a power of two from 2 to 64") }
    }

    func run() throws {
        try reportingErrors {
            let options: [Int]
            switch space {
            case .cnn: options = spaceFlags.space.decisions.map(\.options)
            case .rnnCell: options = RNNCellSpace(base: base).decisions.map(\.options)
            }
            var choices: [Int]
            if let decisions {
                choices = []
                for (i, field) in decisions.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                    guard let v = Int(field.trimmingCharacters(in: .whitespaces)) else {
                        throw CommandError("--decisions: decision \(i + 1) is '\(field)', not a number")
                    }
                    choices.append(v)
                }
            } else {
                var rng = SeededGenerator(seed: seed)
                choices = options.map { rng.index($0) }
            }
            let text: String
            switch space {
            case .cnn:
                let cnn = spaceFlags.space
                guard cnn.layers(forDecisions: choices.count) != nil else {
                    throw CommandError("--decisions: \(choices.count) decisions make no child of this space (\(options.count) for \(spaceFlags.layers) layers, or the prefix for fewer layers)")
                }
                try check(choices, options)
                text = cnn.ir(choices)
            case .rnnCell:
                guard choices.count == options.count else {
                    throw CommandError("--decisions: the rnn-cell space of base \(base) takes \(options.count) decisions, got \(choices.count)")
                }
                try check(choices, options)
                text = RNNCellSpace(base: base).ir(choices)
            }
            print("// decisions: " + choices.map(String.init).joined(separator: ","))
            print(text, terminator: "")
        }
    }

    func check(_ choices: [Int], _ options: [Int]) throws {
        for (i, (c, n)) in zip(choices, options).enumerated() where c < 0 || c >= n {
            throw CommandError("--decisions: decision \(i + 1) is \(c), but it has \(n) options (0...\(n - 1))")
        }
    }
}
