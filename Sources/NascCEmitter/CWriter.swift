import Foundation
import NascIR
import NascPasses

/// Writes the C files for a fused, planned inference graph at batch 1.
struct CWriter {
    let graph: Graph
    let plan: MemoryPlan
    let values: [String: Tensor]
    let name: String
    let input: String
    var identifiers: [String: String] = [:]
    var scratchFloats = 0
    let types: [String: TensorType]
    let defining: [String: Int]

    init(graph: Graph, plan: MemoryPlan, values: [String: Tensor], name: String, input: String) {
        self.graph = graph
        self.plan = plan
        self.values = values
        self.name = name
        self.input = input
        types = graph.valueTypes
        defining = graph.definingNode
    }

    /// An exact float literal; infinities and NaN as math.h's C99 macros.
    static func literal(_ v: Double) -> String {
        let f = Float(v)
        if f.isNaN { return "NAN" }
        if f.isInfinite { return f > 0 ? "HUGE_VALF" : "(-HUGE_VALF)" }
        return f == 0 ? "0.0f" : String(format: "%af", Double(f))
    }

    func shape(_ v: String) -> [Int] { types[v]!.bound(batch: 1) }
    func count(_ v: String) -> Int { shape(v).reduce(1, *) }

    mutating func identifier(_ v: String) -> String {
        if let id = identifiers[v] { return id }
        var base = "\(name)_" + String(v.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while identifiers.values.contains(base) { base += "_" }
        identifiers[v] = base
        return base
    }

    /// A C expression for the start of a value's buffer.
    mutating func pointer(_ v: String) throws -> String {
        if v == input { return "input" }
        if let d = defining[v], graph.nodes[d].op == .param || graph.nodes[d].op == .state { return identifier(v) }
        var placement = plan.buffers.first { $0.value == v }?.placement
        while case .inPlace(let other) = placement {
            if let d = defining[other], graph.nodes[d].op == .param || graph.nodes[d].op == .state { return identifier(other) }
            placement = plan.buffers.first { $0.value == other }?.placement
        }
        if case .arena(let offset) = placement { return "(\(name)_arena + \(offset / 4))" }
        throw CEmitterError("internal: '%\(v)' has no buffer")
    }

    mutating func emit() throws -> EmittedC {
        var body: [String] = []
        var kernels: [String] = []
        var members: [String: [Node]] = [:]
        for n in graph.nodes {
            guard let k = n.kernel else { continue }
            if members[k] == nil { kernels.append(k) }
            members[k, default: []].append(n)
        }
        var functions: [String] = []
        for k in kernels {
            let nodes = members[k]!
            var lines: [String] = []
            var pointers: [String: String] = [:]
            let outside = Set(plan.buffers.map(\.value))
            var epilogue = nodes
            if !PatternKind.of(nodes[0]).isEpilogue {
                let anchor = nodes[0]
                let out = outside.contains(anchor.result) ? try pointer(anchor.result) : "\(name)_scratch"
                if !outside.contains(anchor.result) { scratchFloats = max(scratchFloats, count(anchor.result)) }
                pointers[anchor.result] = out
                lines += try anchorCode(anchor, out)
                epilogue.removeFirst()
            }
            if !epilogue.isEmpty { lines += try epilogueCode(epilogue, anchorPointers: pointers, outside: outside) }
            let title = nodes.map { "%\($0.result) = \($0.op.name)" }.joined(separator: ", ")
            functions.append("/* kernel @\(k): \(title) */\nstatic void \(name)_\(k)(const float *input) {\n    (void)input;\n"
                             + lines.map { "    " + $0 }.joined(separator: "\n") + "\n}\n")
            body.append("    \(name)_\(k)(input);")
        }
        let output = graph.outputs[0]
        let outputSize = count(output.value), inputSize = count(input)
        let outPointer: String
        if let d = defining[output.value], graph.nodes[d].op == .const {
            body.append("    for (long i = 0; i < \(outputSize); i++) output[i] = \(CWriter.literal(graph.nodes[d].attrs.float("value")));")
            outPointer = ""
        } else {
            outPointer = try pointer(output.value)
            body.append("    memcpy(output, \(outPointer), \(outputSize) * sizeof(float));")
        }
        _ = outPointer

        // Constants: every parameter and state the kernels read.
        var constants: [String] = []
        for n in graph.nodes where n.op == .param || n.op == .state {
            let t = values[n.result]!
            let id = identifier(n.result)
            var items: [String] = []
            for (i, v) in t.data.enumerated() {
                items.append(CWriter.literal(v) + (i % 6 == 5 ? ",\n    " : ", "))
            }
            constants.append("/* %\(n.result): \(n.type!) */\nstatic const float \(id)[\(max(t.count, 1))] = {\n    " + items.joined() + "\n};\n")
        }
        let arenaFloats = max(plan.peakBytes / 4, 1)
        let code = functions.joined() + body.joined()
        let upper = name.uppercased()
        let header = """
            /* \(name).h: inference for @\(graph.name), generated by nasc emit-c. C99, needs only libm. */
            #ifndef \(upper)_H
            #define \(upper)_H

            /* One image in, \(shape(input)) as NCHW floats. */
            #define \(upper)_INPUT_SIZE \(inputSize)
            /* Logits out. */
            #define \(upper)_OUTPUT_SIZE \(outputSize)
            /* Static memory the model uses (arena and scratch), in bytes. */
            #define \(upper)_ARENA_BYTES \(arenaFloats * 4 + scratchFloats * 4)

            /* Runs the model on one image. Not reentrant: it uses one static arena. */
            void \(name)_infer(const float *input, float *output);

            #endif

            """
        let source = "/* \(name).c: inference for @\(graph.name), generated by nasc emit-c. Weights are exact hex-float constants. */\n"
            + "#include <math.h>\n#include <string.h>\n#include \"\(name).h\"\n\n"
            + constants.joined(separator: "\n") + "\n"
            + (code.contains("\(name)_arena") ? "static float \(name)_arena[\(arenaFloats)];\n" : "")
            + (code.contains("\(name)_scratch") ? "static float \(name)_scratch[\(max(scratchFloats, 1))];\n" : "") + "\n"
            + functions.joined(separator: "\n") + "\n"
            + "void \(name)_infer(const float *input, float *output) {\n" + body.joined(separator: "\n") + "\n}\n"
        return EmittedC(name: name, header: header, source: source, driver: CWriter.driver(name, shape(input)),
                        inputSize: inputSize, outputSize: outputSize, arenaBytes: arenaFloats * 4 + scratchFloats * 4)
    }
}
