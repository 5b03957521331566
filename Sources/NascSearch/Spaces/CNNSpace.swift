/// The NAS-RL convolutional search space (Zoph & Le 2017): every layer picks
/// a filter height and width in {1, 3, 5, 7}, a number of filters in
/// {24, 36, 48, 64} and optionally a stride in {1, 2, 3}; its inputs are
/// chosen by skip decisions from every earlier layer (the controller's anchor
/// points). Every layer is conv + batch norm + ReLU. The paper's repair
/// rules make every decision sequence a valid network: a layer with no
/// input takes the image; outputs no later layer consumes are concatenated
/// into the classifier; inputs of different sizes are zero-padded to the
/// largest.
///
/// With `poolEvery = K` (the paper's max-pooling variant) the layers come in
/// stages of K, and each stage works at half the resolution of the one
/// before: a value that crosses into a later stage (a skip, the image, an
/// output bound for the classifier) passes through one 2x2 max pool per
/// stage boundary. Pooling keeps deep children cheap enough to train fully.
///
/// With `chain` a layer without a skip input reads the layer before it
/// instead (only the first layer reads the image): the paper's rule spends
/// such layers on the raw image, so a deep child of the paper's space is
/// often several shallow ones side by side.
///
/// With `separable` every layer is instead the separable convolution of
/// NASNet and ENAS: ReLU, a depthwise convolution with the layer's filter
/// shape and stride, a 1x1 pointwise convolution to its filter count, batch
/// norm (`separableLayer`); a fraction of the multiply-adds of a dense layer.
///
/// `filters` replaces the paper's filter counts: smaller ones let a
/// latency-aware search reach networks as small as hand-made ones.
public struct CNNSpace: Sendable, Equatable {
    public var layers: Int
    public var strides: Bool
    /// Layers per resolution stage; 0 means a single stage (no pooling).
    public var poolEvery: Int
    /// Whether a layer with no skip input reads the previous layer (not the image).
    public var chain: Bool
    /// Whether every layer is a separable convolution (not conv + batch norm + ReLU).
    public var separable: Bool
    /// The filter counts a layer picks from (default: the paper's).
    public var filters: [Int]
    public static let kernelSizes = [1, 3, 5, 7]
    public static let filterCounts = [24, 36, 48, 64]
    public static let strideValues = [1, 2, 3]

    public init(layers: Int, strides: Bool = false, poolEvery: Int = 0, chain: Bool = false, separable: Bool = false,
                filters: [Int] = CNNSpace.filterCounts) {
        self.filters = filters
        self.layers = layers
        self.strides = strides
        self.poolEvery = poolEvery
        self.chain = chain
        self.separable = separable
    }

    /// The same space with `layers` layers. Its decisions are a prefix of
    /// this space's (decisions come layer by layer), which is what lets the
    /// paper's schedule grow children during a search.
    public func withLayers(_ layers: Int) -> CNNSpace {
        CNNSpace(layers: layers, strides: strides, poolEvery: poolEvery, chain: chain, separable: separable, filters: filters)
    }

    /// The number of layers whose decisions number `count`, if any.
    public func layers(forDecisions count: Int) -> Int? {
        (1...max(layers, 1)).first { withLayers($0).decisions.count == count }
    }

    /// The resolution stage of layer `i` (0-based); the image is in stage 0.
    public func stage(_ i: Int) -> Int { poolEvery > 0 ? i / poolEvery : 0 }

    public enum Kind: Sendable, Equatable {
        case height, width, filters, stride
        /// Whether layer `from`'s output feeds layer `to`.
        case skip(from: Int, to: Int)
    }

    public struct Decision: Sendable, Equatable {
        public var layer: Int
        public var kind: Kind
        public var options: Int
    }

    /// The decisions in the order the controller emits them: per layer its
    /// filter height, width, count (and stride), then its anchor's skip choices.
    public var decisions: [Decision] {
        var out: [Decision] = []
        for i in 0..<layers {
            out.append(Decision(layer: i, kind: .height, options: 4))
            out.append(Decision(layer: i, kind: .width, options: 4))
            out.append(Decision(layer: i, kind: .filters, options: filters.count))
            if strides { out.append(Decision(layer: i, kind: .stride, options: 3)) }
            for j in 0..<i { out.append(Decision(layer: i, kind: .skip(from: j, to: i), options: 2)) }
        }
        return out
    }

    /// A layer as the decisions set it.
    public struct Layer: Sendable, Equatable {
        public var kernel: (Int, Int)
        public var filters: Int
        public var stride: Int
        public var inputs: [Int]
        public static func == (a: Layer, b: Layer) -> Bool {
            a.kernel == b.kernel && a.filters == b.filters && a.stride == b.stride && a.inputs == b.inputs
        }
    }

    /// The layers a decision sequence sets: this space's full sequence, or
    /// the prefix of a smaller child (see `withLayers`).
    public func layers(_ choices: [Int]) -> [Layer] {
        let n = layers(forDecisions: choices.count)
        precondition(n != nil, "\(choices.count) decisions make no child of this space (\(decisions.count) for \(layers) layers)")
        let ds = withLayers(n!).decisions
        var out = (0..<n!).map { _ in Layer(kernel: (3, 3), filters: 24, stride: 1, inputs: []) }
        for (d, c) in zip(ds, choices) {
            switch d.kind {
            case .height: out[d.layer].kernel.0 = CNNSpace.kernelSizes[c]
            case .width: out[d.layer].kernel.1 = CNNSpace.kernelSizes[c]
            case .filters: out[d.layer].filters = filters[c]
            case .stride: out[d.layer].stride = CNNSpace.strideValues[c]
            case .skip(let from, _): if c == 1 { out[d.layer].inputs.append(from) }
            }
        }
        return out
    }

    /// The child as IR text: image input `%x`, labels `%y`, outputs loss and
    /// logits; `width` scales every layer's filter count (rounded, at least 1).
    public func ir(_ choices: [Int], name: String = "child", channels: Int = 1, size: Int = 28, classes: Int = 10, width: Double = 1) -> String {
        let spec = layers(choices)
        var lines: [String] = []
        var shapes: [(c: Int, h: Int, w: Int)] = []
        var consumed = Set<Int>()

        /// `value` after `times` 2x2 max pools, each emitted once; a map
        /// already one pixel wide is not pooled further.
        var emitted = Set<String>()
        func pooled(_ value: (name: String, c: Int, h: Int, w: Int), _ times: Int) -> (name: String, c: Int, h: Int, w: Int) {
            var v = value
            for k in 0..<times where v.h >= 2 && v.w >= 2 {
                let name = "\(value.name)_pool\(k + 1)"
                if emitted.insert(name).inserted {
                    lines.append("  %\(name) = max_pool %\(v.name) {window = [2, 2], stride = [2, 2], pad = valid}")
                }
                v = (name, v.c, v.h / 2, v.w / 2)
            }
            return v
        }

        /// One value from several: zero-pad to the largest, concatenate on depth.
        func combine(_ sources: [(name: String, c: Int, h: Int, w: Int)], _ tag: String) -> (String, Int, Int, Int) {
            if sources.count == 1 { return sources[0] }
            let h = sources.map(\.h).max()!, w = sources.map(\.w).max()!
            var parts: [String] = []
            for (k, s) in sources.enumerated() {
                if s.h == h && s.w == w { parts.append(s.name); continue }
                let (dh, dw) = (h - s.h, w - s.w)
                let padded = "\(tag)_pad\(k)"
                lines.append("  %\(padded) = zero_pad %\(s.name) {pads = [\(dh / 2), \(dh - dh / 2), \(dw / 2), \(dw - dw / 2)]}")
                parts.append(padded)
            }
            lines.append("  %\(tag) = concat \(parts.map { "%" + $0 }.joined(separator: ", "))")
            return (tag, sources.map(\.c).reduce(0, +), h, w)
        }

        /// Layer `j`'s output (or the image for -1), brought to stage `target`.
        func source(_ j: Int, into target: Int) -> (name: String, c: Int, h: Int, w: Int) {
            if j < 0 { return pooled(("x", channels, size, size), target) }
            return pooled(("h\(j + 1)", shapes[j].c, shapes[j].h, shapes[j].w), target - stage(j))
        }

        for (i, layer) in spec.enumerated() {
            let l = i + 1
            // The repair rule for a layer without inputs: the image, or with `chain` the layer before.
            let inputs = layer.inputs.isEmpty ? [chain ? i - 1 : -1] : layer.inputs
            let sources = inputs.map { source($0, into: stage(i)) }
            consumed.formUnion(inputs)
            let (input, c, h, w) = combine(sources, "in\(l)")
            let f = max(1, Int((Double(layer.filters) * width).rounded())), s = layer.stride
            lines += separable ? CNNSpace.separableLayer(l, input: input, channels: c, filters: f, kernel: layer.kernel, stride: s)
                               : CNNSpace.convLayer(l, input: input, channels: c, filters: f, kernel: layer.kernel, stride: s)
            shapes.append((f, (h - 1) / s + 1, (w - 1) / s + 1))
        }
        let ends = (0..<spec.count).filter { !consumed.contains($0) }
        let (features, c, _, _) = combine(ends.map { source($0, into: stage(spec.count - 1)) }, "top")
        lines += CNNSpace.classifier(features, channels: c, classes: classes)
        return "graph @\(name)(%x: f32[N,\(channels),\(size),\(size)], %y: i32[N]) -> (loss: f32[], logits: f32[N,\(classes)]) {\n"
            + lines.joined(separator: "\n") + "\n  return %loss, %logits\n}\n"
    }

    /// Layer `l` of a child as IR lines: conv (same padding) + batch norm +
    /// ReLU, every layer of the NAS-RL space; its output is `%h<l>`.
    public static func convLayer(_ l: Int, input: String, channels: Int, filters f: Int, kernel: (Int, Int), stride s: Int) -> [String] {
        [
            "  %w\(l) = param {init = he_normal} : f32[\(f),\(channels),\(kernel.0),\(kernel.1)]",
            "  %g\(l) = param {init = ones} : f32[\(f)]",
            "  %b\(l) = param {init = zeros} : f32[\(f)]",
            "  %m\(l) = state {init = zeros} : f32[\(f)]",
            "  %v\(l) = state {init = ones} : f32[\(f)]",
            "  %c\(l) = conv2d %\(input), %w\(l) {stride = [\(s), \(s)], pad = same}",
            "  %n\(l) = batch_norm %c\(l), %g\(l), %b\(l), %m\(l), %v\(l)",
            "  %h\(l) = relu %n\(l)",
        ]
    }

    /// Layer `l` as the separable convolution of NASNet and ENAS: ReLU, a
    /// depthwise convolution (one filter per channel, `groups` = channels)
    /// of `kernel` with `stride` and `dilation`, a 1x1 pointwise convolution
    /// to `filters`, batch norm; its output is `%h<l>`.
    public static func separableLayer(_ l: Int, input: String, channels: Int, filters f: Int, kernel: (Int, Int), stride s: Int,
                                      dilation: Int = 1) -> [String] {
        // A one-channel input (the image) is a dense convolution: no groups attribute.
        let dilated = (channels == 1 ? "" : ", groups = \(channels)") + (dilation == 1 ? "" : ", dilation = [\(dilation), \(dilation)]")
        return [
            "  %r\(l) = relu %\(input)",
            "  %dw\(l) = param {init = he_normal} : f32[\(channels),1,\(kernel.0),\(kernel.1)]",
            "  %d\(l) = conv2d %r\(l), %dw\(l) {stride = [\(s), \(s)], pad = same\(dilated)}",
            "  %w\(l) = param {init = he_normal} : f32[\(f),\(channels),1,1]",
            "  %c\(l) = conv2d %d\(l), %w\(l)",
            "  %g\(l) = param {init = ones} : f32[\(f)]",
            "  %b\(l) = param {init = zeros} : f32[\(f)]",
            "  %m\(l) = state {init = zeros} : f32[\(f)]",
            "  %v\(l) = state {init = ones} : f32[\(f)]",
            "  %h\(l) = batch_norm %c\(l), %g\(l), %b\(l), %m\(l), %v\(l)",
        ]
    }

    /// The classifier on top of a child: global average pool, dense layer,
    /// softmax cross-entropy against the labels `%y`.
    public static func classifier(_ features: String, channels: Int, classes: Int) -> [String] {
        [
            "  %pool = global_avg_pool %\(features)",
            "  %wd = param {init = glorot_uniform} : f32[\(channels),\(classes)]",
            "  %bd = param {init = zeros} : f32[\(classes)]",
            "  %d = matmul %pool, %wd",
            "  %logits = bias_add %d, %bd",
            "  %loss = softmax_cross_entropy %logits, %y",
        ]
    }
}

extension CNNSpace: ImageSpace {
    public var kind: SpaceKind { .cnn }
    public var decisionOptions: [Int] { decisions.map(\.options) }
    public var controller: ControllerGraph { ControllerGraph(space: self) }
    public func makesChild(decisions count: Int) -> Bool { layers(forDecisions: count) != nil }
    public var summary: String {
        "\(layers) layers\(chain ? " in a chain" : "")\(separable ? ", separable" : "")"
            + (filters == CNNSpace.filterCounts ? "" : ", filters \(filters.map(String.init).joined(separator: "/"))")
    }

    public func ir(_ choices: [Int], name: String, image: ImageShape, width: Double) -> String {
        ir(choices, name: name, channels: image.channels, size: image.size, classes: image.classes, width: width)
    }

    /// The search.json fields. Folders from before a field existed read as
    /// its old behaviour: no pooling, no strides.
    public var settings: [String: Any] {
        ["space": "cnn", "layers": layers, "strides": strides, "pool_every": poolEvery, "chain": chain, "separable": separable, "filters": filters]
    }

    public init?(json: [String: Any]) {
        guard let layers = json["layers"] as? Int else { return nil }
        self.init(layers: layers, strides: json["strides"] as? Bool ?? false, poolEvery: json["pool_every"] as? Int ?? 0,
                  chain: json["chain"] as? Bool ?? false, separable: json["separable"] as? Bool ?? false,
                  filters: (json["filters"] as? [Int]).flatMap { $0.count >= 2 && $0.allSatisfy { $0 > 0 } ? $0 : nil } ?? CNNSpace.filterCounts)
    }

    public func difference(from now: any ImageSpace) -> String? {
        guard let now = now as? CNNSpace else { return "--space cnn, not \(now.kind.rawValue)" }
        let fields: [(String, Int, Int)] = [
            ("--layers", layers, now.layers), ("--pool-every", poolEvery, now.poolEvery),
            ("--strides", strides ? 1 : 0, now.strides ? 1 : 0), ("--chain", chain ? 1 : 0, now.chain ? 1 : 0),
            ("--separable", separable ? 1 : 0, now.separable ? 1 : 0)]
        if let changed = fields.first(where: { $0.1 != $0.2 }) { return "\(changed.0) \(changed.1), not \(changed.2)" }
        func list(_ f: [Int]) -> String { f.map(String.init).joined(separator: ",") }
        return filters == now.filters ? nil : "--filters " + list(filters) + ", not " + list(now.filters)
    }
}
