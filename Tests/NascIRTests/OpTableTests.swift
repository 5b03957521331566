import XCTest
import NascIR

/// The op table as a whole: every op has exactly one entry, and its FLOP
/// rule gives the count worked out by hand for a small node of that op.
final class OpTableTests: XCTestCase {
    func testElementwiseAndAnchorOpsPartitionTheOps() {
        for op in Op.allCases {
            let elementwise = op.elementwiseOp != nil, anchor = op.anchor != nil
            XCTAssertTrue(elementwise != anchor, "'\(op.name)' must be in exactly one of ElementwiseOp and AnchorOp")
            if let a = op.anchor { XCTAssertEqual(a.op, op) }
            XCTAssertEqual(op.definition.signature.attributes.map(\.name), op.signature.attributes.map(\.name))
        }
        XCTAssertEqual(ElementwiseOp.allCases.count + AnchorOp.allCases.count, Op.allCases.count)
    }

    /// One node of every op at batch 2, x: [2,2,4,4] -> c: [2,4,4,4]
    /// (128 elements). A multiply-add counts 2; sources count 0; ops that
    /// move or map elements count one per result element; reductions one
    /// per input element.
    static let graph = """
        graph @flops(%x: f32[N,2,4,4], %ids: i32[N,3], %y: i32[N], %wt: f32[N], %seed: i32[]) -> (o: f32[N,4,4,4]) {
          %w = param {init = he_normal} : f32[4,2,3,3]
          %st = state {init = zeros} : f32[4]
          %k = const {value = 1.0} : f32[]
          %c = conv2d %x, %w
          %wd = param {init = he_normal} : f32[4,1,3,3]
          %dwc = conv2d %c, %wd {groups = 4, dilation = [2, 2]}
          %wg = param {init = he_normal} : f32[4,2,1,1]
          %gc = conv2d %c, %wg {stride = [2, 2], groups = 2}
          %gi = conv2d_grad_input %c, %w {input_size = [4, 4]}
          %gf = conv2d_grad_filter %x, %c {kernel = [3, 3]}
          %gdf = conv2d_grad_filter %c, %dwc {kernel = [3, 3], groups = 4, dilation = [2, 2]}
          %bn = batch_norm %c, %st, %st, %st, %st
          %bng = batch_norm_grad %c, %c, %st, %st, %st
          %bngg = batch_norm_grad_gamma %c, %c, %st, %st
          %bm = batch_mean %c
          %bv = batch_var %c
          %mp = max_pool %c {window = [2, 2], stride = [2, 2]}
          %ap = avg_pool %c {window = [3, 3], pad = same}
          %gp = global_avg_pool %c
          %mpg = max_pool_grad %mp, %c {window = [2, 2], stride = [2, 2]}
          %apg = avg_pool_grad %ap {window = [3, 3], pad = same, input_size = [4, 4]}
          %gpg = global_avg_pool_grad %gp {input_size = [4, 4]}
          %dr = dropout %c, %seed {rate = 0.5}
          %dp = drop_path %c, %seed, %k {stream = 2}
          %cat = concat %c, %c
          %zp = zero_pad %c {pads = [1, 1, 1, 1]}
          %cr = crop %zp {pads = [1, 1, 1, 1]}
          %fl = flatten %c
          %rs = reshape %fl : f32[N,4,16]
          %sl = slice %c {axis = 1, start = 0, size = 2}
          %rsum = reduce_sum %c
          %csum = channel_sum %c
          %wm = param {init = he_normal} : f32[64,5]
          %mm = matmul %fl, %wm
          %b5 = param {init = zeros} : f32[5]
          %ba = bias_add %mm, %b5
          %sm = softmax %ba
          %smg = softmax_grad %ba, %sm
          %ce = softmax_cross_entropy %ba, %y
          %wce = weighted_softmax_cross_entropy %ba, %y, %wt
          %ceg = softmax_cross_entropy_grad %ba, %y, %k
          %wceg = weighted_softmax_cross_entropy_grad %ba, %y, %wt, %k
          %tab = param {init = he_normal} : f32[7,3]
          %e = embedding %tab, %ids
          %eg = embedding_grad %e, %ids {vocab = 7}
          %i = identity %fl
          %r = relu %fl
          %t = tanh %fl
          %s = sigmoid %fl
          %n = neg %fl
          %q = sqrt %fl
          %lr = leaky_relu %fl
          %si = silu %fl
          %ad = add %fl, %fl
          %su = sub %fl, %k
          %mu = mul %fl, %fl
          %dv = div %k, %fl
          %rg = relu_grad %fl, %fl
          %tg = tanh_grad %fl, %fl
          %sg = sigmoid_grad %fl, %fl
          %lg = leaky_relu_grad %fl, %fl
          %sig = silu_grad %fl, %fl
          return %c
        }
        """

    static let expected: [String: Int] = [
        "w": 0, "st": 0, "k": 0, "wd": 0, "wg": 0, "wm": 0, "b5": 0, "tab": 0,
        "c": 2 * 128 * 2 * 3 * 3,       // 128 outputs, each 2 channels x 9 taps
        "dwc": 2 * 128 * 1 * 3 * 3,     // depthwise: 1 channel x 9 taps (dilation changes no count)
        "gc": 2 * 32 * 2 * 1 * 1,       // [2,4,2,2] outputs, each its group's 2 channels
        "gi": 2 * 128 * 2 * 3 * 3,      // each of dy's 128 elements reaches 2 channels x 9 taps
        "gf": 2 * 128 * 72 / 4,         // each dy element meets 2 channels x 9 taps of its filter
        "gdf": 2 * 128 * 36 / 4,        // depthwise: 1 channel x 9 taps
        "bn": 128, "bng": 128,          // one per result element
        "bngg": 128, "bm": 128, "bv": 128,  // one per input element
        "mp": 32 * 4,                   // [2,4,2,2] outputs x 4 taps
        "ap": 128 * 9,                  // 128 outputs x 9 taps
        "gp": 128,
        "mpg": 128, "apg": 128, "gpg": 128, "dr": 128, "dp": 128,
        "cat": 256, "zp": 2 * 4 * 6 * 6, "cr": 128, "fl": 128, "rs": 128, "sl": 64,
        "rsum": 128, "csum": 128,
        "mm": 2 * 10 * 64,              // [2,5] outputs x 64 inner
        "ba": 10, "sm": 10, "smg": 10,
        "ce": 1, "wce": 1,              // the loss: one result
        "ceg": 10, "wceg": 10,
        "e": 2 * 3 * 3, "eg": 7 * 3,
        "i": 128, "r": 128, "t": 128, "s": 128, "n": 128, "q": 128, "lr": 128, "si": 128,
        "ad": 128, "su": 128, "mu": 128, "dv": 128,
        "rg": 128, "tg": 128, "sg": 128, "lg": 128, "sig": 128,
    ]

    func testEveryOpsFlopCountMatchesTheHandCount() throws {
        let graph = try Verifier.parseAndVerify(Array(Self.graph.utf8))
        let types = graph.valueTypes
        XCTAssertEqual(Set(graph.nodes.map(\.op)), Set(Op.allCases), "ops the FLOP graph lacks")
        XCTAssertEqual(Set(graph.nodes.map(\.result)), Set(Self.expected.keys))
        for node in graph.nodes {
            XCTAssertEqual(node.op.definition.flops(of: node, types, batch: 2), Self.expected[node.result],
                           "FLOPs of %\(node.result) = \(node.op.name)")
        }
    }
}
