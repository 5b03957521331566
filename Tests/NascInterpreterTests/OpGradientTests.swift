import NascIR
import NascInterpreter
@testable import NascPasses
import NascTestSupport
import XCTest

/// Every differentiable op's gradient rule against finite differences, on
/// small graphs that exercise its attributes (kernel shapes, strides,
/// padding, transposes, broadcasting). Outputs that are not scalars are
/// checked through half their sum of squares.
final class OpGradientTests: XCTestCase {
    /// name, inputs, output signature, body (ending in `return`).
    static let graphs: [(String, String)] = [
        ("unary and binary elementwise, with scalar broadcasting", graphText("%x: f32[N,3,4]", "y: f32[N,3,4]", """
              %p = param {init = normal, scale = 1.0} : f32[3,4]
              %s = param {init = uniform, scale = 1.0} : f32[]
              %one = const {value = 1.0} : f32[]
              %xp = flatten %x
              %q = reshape %xp : f32[N,3,4]
              %a = relu %q
              %b = tanh %a
              %c = sigmoid %q
              %d = neg %c
              %e = identity %d
              %sq = mul %q, %q
              %pos = add %sq, %one
              %r = sqrt %pos
              %t = sub %b, %e
              %u = div %t, %r
              %v = mul %u, %s
              %w = add %s, %v
              %z = sub %one, %w
              %k = div %z, %s
              %part = slice %k {axis = 1, start = 1, size = 2}
              %rest = slice %k {axis = 1, start = 0, size = 1}
              %again = concat %rest, %part
              %y = mul %again, %b
              return %y
            """)),
        ("conv2d 3x5 stride 2 same", graphText("%x: f32[N,2,7,8]", "y: f32[N,3,4,4]", """
              %w = param {init = he_normal} : f32[3,2,3,5]
              %y = conv2d %x, %w {stride = [2, 2], pad = same}
              return %y
            """)),
        ("conv2d 1x7 and 7x1 same", graphText("%x: f32[N,2,7,7]", "y: f32[N,2,7,7]", """
              %w1 = param {init = he_normal} : f32[3,2,1,7]
              %w2 = param {init = he_normal} : f32[2,3,7,1]
              %h = conv2d %x, %w1
              %y = conv2d %h, %w2
              return %y
            """)),
        ("conv2d stride 3 valid and stride [1,2] same", graphText("%x: f32[N,2,8,7]", "y: f32[N,2,3,1]", """
              %w1 = param {init = he_normal} : f32[3,2,2,4]
              %w2 = param {init = he_normal} : f32[2,3,1,1]
              %h = conv2d %x, %w1 {stride = [3, 3], pad = valid}
              %y = conv2d %h, %w2 {stride = [1, 2], pad = same}
              return %y
            """)),
        ("batch norm train 4-D and 2-D", graphText("%x: f32[N,3,3,3]", "y: f32[N,3]", """
              %g = param {init = uniform, scale = 2.0} : f32[3]
              %b = param {init = uniform, scale = 1.0} : f32[3]
              %m = state {init = zeros} : f32[3]
              %v = state {init = ones} : f32[3]
              %n = batch_norm %x, %g, %b, %m, %v {mode = train}
              %t = tanh %n
              %p = global_avg_pool %t
              %g2 = param {init = uniform, scale = 2.0} : f32[3]
              %b2 = param {init = uniform, scale = 1.0} : f32[3]
              %m2 = state {init = zeros} : f32[3]
              %v2 = state {init = ones} : f32[3]
              %y = batch_norm %p, %g2, %b2, %m2, %v2 {mode = train, eps = 0.001}
              return %y
            """)),
        ("batch norm infer", graphText("%x: f32[N,2,2,3]", "y: f32[N,2,2,3]", """
              %g = param {init = uniform, scale = 2.0} : f32[2]
              %b = param {init = uniform, scale = 1.0} : f32[2]
              %m = state {init = uniform, scale = 1.0} : f32[2]
              %v = state {init = constant, value = 2.5} : f32[2]
              %y = batch_norm %x, %g, %b, %m, %v {mode = infer}
              return %y
            """)),
        ("bias add and matmul with every transpose", graphText("%x: f32[N,4]", "y: f32[N,2]", """
              %a = param {init = glorot_uniform} : f32[4,3]
              %b = param {init = glorot_uniform} : f32[5,3]
              %c = param {init = glorot_uniform} : f32[2,5]
              %e = param {init = glorot_uniform} : f32[2,2]
              %bias = param {init = uniform, scale = 1.0} : f32[5]
              %h = matmul %x, %a
              %k = matmul %h, %b {transpose_b = true}
              %kb = bias_add %k, %bias
              %cc = matmul %c, %c {transpose_a = true}
              %ce = matmul %e, %c {transpose_a = true, transpose_b = false}
              %t = matmul %ce, %cc
              %y = matmul %kb, %t {transpose_b = true}
              return %y
            """)),
        ("max and avg pools, same and valid, strided", graphText("%x: f32[N,2,7,6]", "y: f32[N,2,1,2]", """
              %w = param {init = he_normal} : f32[2,2,3,3]
              %c = conv2d %x, %w
              %mp = max_pool %c {window = [3, 2], stride = [2, 2], pad = same}
              %ap = avg_pool %mp {window = [2, 3], stride = [3, 1], pad = same}
              %mv = max_pool %ap {window = [2, 2], stride = [1, 1], pad = valid}
              %y = avg_pool %mv {window = [1, 1], stride = [1, 1], pad = valid}
              return %y
            """)),
        ("concat, zero pad, global average pool", graphText("%x: f32[N,1,5,5]", "y: f32[N,5]", """
              %w1 = param {init = he_normal} : f32[2,1,3,3]
              %w2 = param {init = he_normal} : f32[3,1,5,5]
              %a = conv2d %x, %w1
              %b = conv2d %x, %w2 {stride = [2, 2], pad = valid}
              %bp = zero_pad %b {pads = [1, 3, 2, 2]}
              %cat = concat %a, %bp
              %y = global_avg_pool %cat
              return %y
            """)),
        ("embedding, softmax and softmax cross-entropy", graphText("%ids: i32[N,2], %y: i32[N]", "loss: f32[]", """
              %t = param {init = uniform, scale = 1.0} : f32[6,3]
              %e = embedding %t, %ids
              %f = flatten %e
              %w = param {init = glorot_uniform} : f32[6,4]
              %z = matmul %f, %w
              %s = softmax %z
              %w2 = param {init = glorot_uniform} : f32[4,4]
              %z2 = matmul %s, %w2
              %loss = softmax_cross_entropy %z2, %y
              return %loss
            """)),
        ("weighted softmax cross-entropy", graphText("%h: f32[N,5], %a: i32[N], %adv: f32[N]", "loss: f32[]", """
              %w = param {init = glorot_uniform} : f32[5,3]
              %z = matmul %h, %w
              %loss = weighted_softmax_cross_entropy %z, %a, %adv
              return %loss
            """)),
        ("reduce sum", graphText("%x: f32[N,3]", "loss: f32[]", """
              %p = param {init = uniform, scale = 1.0} : f32[3]
              %b = bias_add %x, %p
              %t = tanh %b
              %loss = reduce_sum %t
              return %loss
            """)),
    ]

    func testEveryDifferentiableOpMatchesFiniteDifferences() throws {
        var covered = Set<Op>()
        for (name, text) in Self.graphs + SharedOpGraphs.activations {
            let g = try graph(text)
            covered.formUnion(g.nodes.map(\.op))
            var options = GradientCheck.Options()
            options.batch = 3
            options.seed = 11
            options.samplesPerParameter = 24
            options.loss = g.outputs[0].label
            let check = try GradientCheck.run(g, options)
            XCTAssertTrue(check.passed, "\(name): worst error \(check.worstError) in \(check.reports.filter { $0.worstError > options.tolerance }.map(\.name))")
            XCTAssertFalse(check.reports.isEmpty, name)
        }
        // Guard: a new op with a gradient rule must get a case above.
        let differentiable = Op.allCases.filter { GradientRules.rule(for: $0) != nil }
        let missing = differentiable.filter { !covered.contains($0) }
        XCTAssertEqual(missing, [], "ops with gradient rules but no gradient check: \(missing.map(\.name))")
    }

    /// The check has teeth: in every case above, scaling any single backward
    /// op's result by 1.001 makes it fail.
    func testTheCheckCatchesEveryPlantedError() throws {
        var mutants = 0
        for (name, text) in Self.graphs + SharedOpGraphs.activations {
            let g = try graph(text)
            var options = GradientCheck.Options()
            options.batch = 3
            options.seed = 11
            options.samplesPerParameter = 24
            options.loss = g.outputs[0].label
            let forward = try GradientCheck.withScalarLoss(g, options.loss)
            let training = try Autodiff.run(forward, loss: options.loss)
            for k in forward.nodes.count..<training.nodes.count where training.nodes[k].op != .const {
                let victim = training.nodes[k]
                let check = try GradientCheck.run(g, options) { t in
                    var m = t
                    m.nodes[k].result = victim.result + ".true"
                    m.nodes.append(Node(result: victim.result + ".factor", op: .const, attrs: Attributes([("value", .float(1.001))]),
                                        type: TensorType(.f32, [])))
                    m.nodes.append(Node(result: victim.result, op: .mul, operands: [victim.result + ".true", victim.result + ".factor"]))
                    return try Verifier.verify(m)
                }
                XCTAssertFalse(check.passed, "\(name): scaling '%\(victim.result) = \(victim.op.name)' went unnoticed")
                mutants += 1
            }
        }
        print("gradient check caught \(mutants) of \(mutants) planted errors")
    }

    func testErrorMeasure() throws {
        XCTAssertLessThan(GradientCheck.error(0.5, 0.5 + 1e-10), 1e-8)
        XCTAssertGreaterThan(GradientCheck.error(1.0, -1.0), 1)
        XCTAssertGreaterThan(GradientCheck.error(0.02, 0.01), 0.4)
        XCTAssertGreaterThan(GradientCheck.error(0, 0.01), 0.9)
    }
}
