import ArgumentParser
import NascSearch

/// Flags that shape the NAS-RL CNN space, shared by `search` and `sample`.
struct SpaceFlags: ParsableArguments {
    @Option(help: "Layers per child.")
    var layers = 4

    @Flag(help: "Let each layer choose a stride in {1, 2, 3}.")
    var strides = false

    @Option(help: ArgumentHelp("Halve the resolution (2x2 max pool) after every K layers; 0: never.", valueName: "K"))
    var poolEvery = 1

    @Flag(help: "A layer that chooses no skip input reads the layer before it (without --chain it reads the image, the paper's repair rule).")
    var chain = false

    @Flag(help: "Every layer is a separable convolution (ReLU, depthwise, pointwise 1x1, batch norm: NASNet's and ENAS's block), not conv + batch norm + ReLU.")
    var separable = false

    func validate() throws {
        try FlagCheck.int(layers, "--layers", 1...24)
        try FlagCheck.int(poolEvery, "--pool-every", 0...24)
    }

    var space: CNNSpace { CNNSpace(layers: layers, strides: strides, poolEvery: poolEvery, chain: chain, separable: separable) }
}
