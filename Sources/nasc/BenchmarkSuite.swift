import NascIR
import NascSearch

/// The children `nasc bench` measures: NAS-RL-space CNNs on 28x28x1 images
/// (every layer conv + batch norm + ReLU, skip connections concatenated on
/// depth, global average pooling and a dense classifier), from 1 to 12 layers
/// with mixed kernel shapes and filter counts (c1 to c12); and children of
/// separable convolutions (s4 to s8: a dense 3x3 stem, then NASNet's block of
/// ReLU, depthwise 3x3 or 5x5, some dilated, pointwise 1x1 and batch norm).
enum BenchmarkSuite {
    struct Layer {
        var kernel: (Int, Int)
        var filters: Int
        /// Earlier layers (0-based) concatenated with the previous one as input.
        var skips: [Int] = []
        /// A separable convolution (CNNSpace.separableLayer) with this dilation; 0: conv + batch norm + ReLU.
        var separable = 0
    }

    static func sep(_ k: Int, _ f: Int, dilation: Int = 1, skips: [Int] = []) -> Layer {
        Layer(kernel: (k, k), filters: f, skips: skips, separable: dilation)
    }

    static let children: [(name: String, layers: [Layer])] = [
        ("c1", [Layer(kernel: (3, 3), filters: 36)]),
        ("c2", [Layer(kernel: (5, 5), filters: 24), Layer(kernel: (3, 3), filters: 48)]),
        ("c3", [Layer(kernel: (3, 5), filters: 36), Layer(kernel: (5, 5), filters: 48), Layer(kernel: (7, 3), filters: 64, skips: [0])]),
        ("c4", [Layer(kernel: (1, 7), filters: 24), Layer(kernel: (7, 1), filters: 24), Layer(kernel: (3, 3), filters: 36),
                Layer(kernel: (3, 3), filters: 36, skips: [1])]),
        ("c6", [Layer(kernel: (3, 3), filters: 24), Layer(kernel: (5, 3), filters: 24), Layer(kernel: (3, 5), filters: 36, skips: [0]),
                Layer(kernel: (1, 1), filters: 36), Layer(kernel: (3, 3), filters: 48, skips: [2]), Layer(kernel: (3, 3), filters: 48)]),
        ("c8", [Layer(kernel: (3, 3), filters: 24), Layer(kernel: (3, 3), filters: 24), Layer(kernel: (5, 5), filters: 24, skips: [0]),
                Layer(kernel: (3, 1), filters: 36), Layer(kernel: (1, 3), filters: 36), Layer(kernel: (3, 3), filters: 36, skips: [2]),
                Layer(kernel: (1, 1), filters: 48), Layer(kernel: (3, 3), filters: 48, skips: [4])]),
        ("c10", (0..<10).map { i in Layer(kernel: [(3, 3), (1, 3), (3, 1), (5, 5), (1, 1)][i % 5], filters: [24, 24, 36, 36, 48][i % 5],
                                          skips: i >= 3 && i % 3 == 0 ? [i - 3] : []) }),
        ("c12", (0..<12).map { i in Layer(kernel: [(3, 3), (3, 3), (1, 1), (5, 3), (3, 5), (1, 7)][i % 6], filters: [24, 36, 24, 36, 24, 36][i % 6],
                                          skips: i >= 4 && i % 4 == 0 ? [i - 4, i - 2] : []) }),
        ("s4", [Layer(kernel: (3, 3), filters: 24), sep(3, 36), sep(5, 48), sep(3, 48, dilation: 2)]),
        ("s6", [Layer(kernel: (3, 3), filters: 32), sep(3, 32), sep(3, 48, skips: [0]), sep(5, 48), sep(3, 64, dilation: 2, skips: [2]),
                sep(5, 64, dilation: 2)]),
        ("s8", [Layer(kernel: (3, 3), filters: 24), sep(3, 24), sep(5, 36), sep(3, 36, dilation: 2, skips: [1]), sep(3, 48),
                sep(5, 48, skips: [3]), sep(3, 64, dilation: 2), sep(5, 64, dilation: 2, skips: [5])]),
    ]

    /// IR text of a child.
    static func ir(_ name: String, _ layers: [Layer], classes: Int = 10) -> String {
        var lines: [String] = []
        var channels: [Int] = []
        var outputs: [String] = []
        for (i, layer) in layers.enumerated() {
            let l = i + 1
            var input = i == 0 ? "x" : outputs[i - 1]
            var inChannels = i == 0 ? 1 : channels[i - 1]
            if !layer.skips.isEmpty && i > 0 {
                let parts = layer.skips.map { outputs[$0] } + [outputs[i - 1]]
                input = "s\(l)"
                lines.append("  %s\(l) = concat \(parts.map { "%" + $0 }.joined(separator: ", "))")
                inChannels = layer.skips.map { channels[$0] }.reduce(0, +) + channels[i - 1]
            }
            let f = layer.filters
            lines += layer.separable > 0
                ? CNNSpace.separableLayer(l, input: input, channels: inChannels, filters: f, kernel: layer.kernel, stride: 1, dilation: layer.separable)
                : CNNSpace.convLayer(l, input: input, channels: inChannels, filters: f, kernel: layer.kernel, stride: 1)
            channels.append(f)
            outputs.append("h\(l)")
        }
        let last = channels.last!
        lines += CNNSpace.classifier(outputs.last!, channels: last, classes: classes)
        return "graph @\(name)(%x: f32[N,1,28,28], %y: i32[N]) -> (loss: f32[]) {\n" + lines.joined(separator: "\n") + "\n  return %loss\n}\n"
    }
}
