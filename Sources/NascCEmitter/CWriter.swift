import Foundation
import NascIR
import NascPasses

/// Writes the C files for a fused, planned inference graph at batch 1.
struct CWriter {
    let graph: Graph
    let plan: MemoryPlan
    let values: [String: Tensor]
    let name: String
    /// The C expression each graph input is read through.
    let inputs: [String: String]
    /// The kernel functions' parameters, and the entry's arguments to them.
    let kernelParameters: String, entryArguments: String
    var identifiers: [String: String] = [:]
    var scratchFloats = 0
    /// The im2col buffer of the largest convolution.
    var columnFloats = 0
    let types: [String: TensorType]
    let defining: [String: Int]

    init(graph: Graph, plan: MemoryPlan, values: [String: Tensor], name: String, inputs: [String: String],
         kernelParameters: String, entryArguments: String) {
        self.graph = graph
        self.plan = plan
        self.values = values
        self.name = name
        self.inputs = inputs
        self.kernelParameters = kernelParameters
        self.entryArguments = entryArguments
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
        if let input = inputs[v] { return input }
        if let d = defining[v], graph.nodes[d].op == .param || graph.nodes[d].op == .state { return identifier(v) }
        var placement = plan.buffers.first { $0.value == v }?.placement
        while case .inPlace(let other) = placement {
            if let d = defining[other], graph.nodes[d].op == .param || graph.nodes[d].op == .state { return identifier(other) }
            placement = plan.buffers.first { $0.value == other }?.placement
        }
        if case .arena(let offset) = placement { return "(\(name)_arena + \(offset / 4))" }
        throw CEmitterError("internal: '%\(v)' has no buffer")
    }

    /// The kernels as C functions, the calls that run them in order, and the
    /// constants (every parameter) they read.
    struct Program {
        var functions: [String] = []
        var calls: [String] = []
        var constants: [String] = []
        var arenaFloats = 1
        /// Arena, scratch and im2col buffer, in bytes.
        var staticBytes: Int { (arenaFloats + scratchFloats + columnFloats) * 4 }
        var scratchFloats = 0, columnFloats = 0
        var usesArena = false, usesScratch = false, usesProduct = false

        func source(_ name: String, includes: [String], entry: String) -> String {
            includes.map { "#include \($0)\n" }.joined() + "\n"
                + constants.joined(separator: "\n") + "\n"
                + (usesArena ? "static float \(name)_arena[\(arenaFloats)];\n" : "")
                + (usesScratch ? "static float \(name)_scratch[\(max(scratchFloats, 1))];\n" : "")
                + (columnFloats > 0 ? "static float \(name)_col[\(columnFloats)];\n" : "") + "\n"
                + (usesProduct ? CWriter.productFunction(name) + "\n" : "")
                + functions.joined(separator: "\n") + "\n" + entry
        }
    }

    mutating func program() throws -> Program {
        var out = Program()
        var kernels: [String] = []
        var members: [String: [Node]] = [:]
        for n in graph.nodes {
            guard let k = n.kernel else { continue }
            if members[k] == nil { kernels.append(k) }
            members[k, default: []].append(n)
        }
        let outside = Set(plan.buffers.map(\.value))
        for k in kernels {
            let nodes = members[k]!
            var lines: [String] = []
            var pointers: [String: String] = [:]
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
            let unused = entryArguments.split(separator: ",").map { "(void)\($0.trimmingCharacters(in: .whitespaces));" }.joined(separator: " ")
            out.functions.append("/* kernel @\(k): \(title) */\nstatic void \(name)_\(k)(\(kernelParameters)) {\n    \(unused)\n"
                                 + lines.map { "    " + $0 }.joined(separator: "\n") + "\n}\n")
            out.calls.append("    \(name)_\(k)(\(entryArguments));")
        }
        for n in graph.nodes where n.op == .param || n.op == .state {
            let t = values[n.result]!
            var items: [String] = []
            for (i, v) in t.data.enumerated() {
                items.append(CWriter.literal(v) + (i % 6 == 5 ? ",\n    " : ", "))
            }
            out.constants.append("/* %\(n.result): \(n.type!) */\nstatic const float \(identifier(n.result))[\(max(t.count, 1))] = {\n    " + items.joined() + "\n};\n")
        }
        out.arenaFloats = max(plan.peakBytes / 4, 1)
        out.scratchFloats = scratchFloats
        out.columnFloats = columnFloats
        let code = out.functions.joined()
        out.usesArena = code.contains("\(name)_arena")
        out.usesScratch = code.contains("\(name)_scratch")
        out.usesProduct = code.contains("\(name)_gemm(")
        return out
    }

    /// A statement copying a graph output's value to `destination`
    /// (memmove: an output may be an input the entry also writes).
    mutating func copy(_ value: String, to destination: String) throws -> String {
        let size = count(value)
        if let d = defining[value], graph.nodes[d].op == .const {
            return "    for (long i = 0; i < \(size); i++) \(destination)[i] = \(CWriter.literal(graph.nodes[d].attrs.float("value")));"
        }
        return "    memmove(\(destination), \(try pointer(value)), \(size) * sizeof(float));"
    }

    /// A classifier: one image in, logits out.
    mutating func classifier() throws -> EmittedC {
        let input = inputs.keys.first!
        var program = try program()
        let output = graph.outputs[0]
        let outputSize = count(output.value), inputSize = count(input)
        program.calls.append(try copy(output.value, to: "output"))
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
            #define \(upper)_ARENA_BYTES \(program.staticBytes)

            /* Runs the model on one image. Not reentrant: it uses one static arena. */
            void \(name)_infer(const float *input, float *output);

            #endif

            """
        let source = "/* \(name).c: inference for @\(graph.name), generated by nasc emit-c. Weights are exact hex-float constants. */\n"
            + program.source(name, includes: ["<math.h>", "<string.h>", "\"\(name).h\""],
                             entry: "void \(name)_infer(const float *input, float *output) {\n" + program.calls.joined(separator: "\n") + "\n}\n")
        return EmittedC(name: name, header: header, source: source, driver: CWriter.classifierDriver(name, shape(input)),
                        summary: "input \(inputSize) floats, output \(outputSize), static memory \(program.staticBytes) bytes")
    }

    /// The matrix product behind convolutions and dense layers:
    /// out[O][P] = w[O][K] x col[K][P]. Blocks of 4 rows by 16 columns sum
    /// over all of K in local arrays, which compilers keep in vector
    /// registers (the inner loops have constant trip counts, so gcc
    /// vectorizes them at -O2); leftover rows and columns take plain loops.
    /// Every element sums over k in order, whichever path computes it.
    static func productFunction(_ name: String) -> String {
        """
        static void \(name)_gemm(const float *w, const float *col, float *out, long rows, long depth, long columns) {
            /* Where the blocks end: separate loops from there on, so that with
               constant sizes a compiler sees which loops never run. */
            const long block_rows = rows - rows % 4, block_columns = columns - columns % 16;
            for (long o = 0; o < block_rows; o += 4) {
                const float *w0 = w + o * depth, *w1 = w0 + depth, *w2 = w1 + depth, *w3 = w2 + depth;
                float *out0 = out + o * columns, *out1 = out0 + columns, *out2 = out1 + columns, *out3 = out2 + columns;
                for (long p = 0; p < block_columns; p += 16) {
                    float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
                    for (long k = 0; k < depth; k++) {
                        const float *c = col + k * columns + p;
                        const float v0 = w0[k], v1 = w1[k], v2 = w2[k], v3 = w3[k];
                        for (int j = 0; j < 16; j++) {
                            a0[j] += v0 * c[j];
                            a1[j] += v1 * c[j];
                            a2[j] += v2 * c[j];
                            a3[j] += v3 * c[j];
                        }
                    }
                    for (int j = 0; j < 16; j++) {
                        out0[p + j] = a0[j];
                        out1[p + j] = a1[j];
                        out2[p + j] = a2[j];
                        out3[p + j] = a3[j];
                    }
                }
                for (long p = block_columns; p < columns; p++) {
                    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                    for (long k = 0; k < depth; k++) {
                        const float c = col[k * columns + p];
                        s0 += w0[k] * c;
                        s1 += w1[k] * c;
                        s2 += w2[k] * c;
                        s3 += w3[k] * c;
                    }
                    out0[p] = s0;
                    out1[p] = s1;
                    out2[p] = s2;
                    out3[p] = s3;
                }
            }
            for (long o = block_rows; o < rows; o++) {
                float *row = out + o * columns;
                for (long p = 0; p < columns; p++) row[p] = 0.0f;
                for (long k = 0; k < depth; k++) {
                    const float v = w[o * depth + k];
                    const float *c = col + k * columns;
                    for (long p = 0; p < columns; p++) row[p] += v * c[p];
                }
            }
        }

        """
    }
}
