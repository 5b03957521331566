import ArgumentParser
import NascIR
import NascSearch

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a child of a search space as IR: a random one, or the one given decisions make.",
        discussion: """
            The first line is a comment with the child's decisions, so any \
            child can be made again with --decisions. `cnn` is NAS-RL's \
            macro space; `cells` the NASNet/ENAS cell space (a normal and a \
            reduction cell of --blocks blocks, stacked --cells per stage); \
            `rnn-cell` is the NAS-RL recurrent cell \
            space (a tree of base --base over x_t and h_{t-1}, with the \
            memory cell's inject and indices), whose cells are IR like any \
            other graph.

            Examples:
              nasc sample --layers 4 --pool-every 1 --seed 3
              nasc sample --space cells --blocks 5 --cells 2 --channels 16 --seed 7 > cells.nasir
              nasc sample --space rnn-cell --seed 1 > cell.nasir && nasc gradcheck cell.nasir --loss h
              nasc sample --layers 2 --decisions 1,1,2,0,3,3,1
            """)

    @OptionGroup(title: "Search space") var spaceFlags: SpaceFlags

    @Option(help: "Seed of the random child.")
    var seed: UInt64 = 0

    @Option(help: "The child's decisions, comma-separated (instead of a random child).")
    var decisions: String?

    func run() throws {
        try reportingErrors {
            let space = spaceFlags.searchSpace
            let options = space.decisionOptions
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
            if let problem = space.problem(with: choices) {
                let prefix = space.kind == .cnn ? " (or the prefix for fewer layers)" : ""
                throw CommandError("--decisions: " + problem + prefix)
            }
            let text: String
            if let image = spaceFlags.imageSpace {
                text = image.ir(choices, name: "child", image: ImageShape(), width: 1)
            } else {
                text = spaceFlags.rnnCell.ir(choices)
            }
            print("// decisions: " + choices.map(String.init).joined(separator: ","))
            print(text, terminator: "")
        }
    }
}
