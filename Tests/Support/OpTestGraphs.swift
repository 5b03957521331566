/// The per-op test graphs, in one place: the gradient checks
/// (NascInterpreterTests) and the JIT differential tests (NascLLVMTests)
/// both run every one of them, so an op that appears here gets both. The
/// guards over `Op.allCases` in those tests name any op no graph uses.
public enum SharedOpGraphs {
    public static var all: [(String, String)] { wholePipeline + gradientChecks + activations }

    /// Every unary and binary elementwise op, from %q, %one and %s to %v
    /// (in both graphs that check them: for gradients, and through the
    /// whole pipeline).
    static let elementwiseChain = """
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
        """

    /// Small graphs that exercise each op's attributes (kernel shapes,
    /// strides, padding, transposes, broadcasting), each as name and text;
    /// outputs that are not scalars are checked through half their sum of squares.
    public static let gradientChecks: [(String, String)] = [
        ("unary and binary elementwise, with scalar broadcasting", graphText("%x: f32[N,3,4]", "y: f32[N,3,4]", """
              %p = param {init = normal, scale = 1.0} : f32[3,4]
              %s = param {init = uniform, scale = 1.0} : f32[]
              %one = const {value = 1.0} : f32[]
              %xp = flatten %x
              %q = reshape %xp : f32[N,3,4]
              \(elementwiseChain)
              %w = add %s, %v
              %z = sub %one, %w
              %k = div %z, %s
              %part = slice %k {axis = 1, start = 1, size = 2}
              %rest = slice %k {axis = 1, start = 0, size = 1}
              %again = concat %rest, %part
              %y = mul %again, %b
              return %y
            """)),
        ("dropout, its mask drawn from a seed input", graphText("%x: f32[N,6], %seed: i32[]", "y: f32[N,6]", """
              %w = param {init = normal, scale = 1.0} : f32[6,6]
              %h = matmul %x, %w
              %d = dropout %h, %seed {rate = 0.4, stream = 3}
              %y = tanh %d
              return %y
            """)),
        // Drop-path at a rate of 0.5 on a batch of 3 or more drops some
        // examples' paths and keeps others; the rate is a runtime input.
        ("drop_path, whole examples dropped by a seed and a runtime rate", graphText("%x: f32[N,2,3,2], %seed: i32[], %rate: f32[]", "y: f32[N,2,3,2]", """
              %w = param {init = normal, scale = 1.0} : f32[2,2,3,3]
              %h = conv2d %x, %w
              %d = drop_path %h, %seed, %rate {stream = 5}
              %e = drop_path %x, %seed, %rate {stream = 6}
              %s = add %d, %e
              %y = tanh %s
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
        // Depthwise (one channel per group, with two filters per channel
        // in %f), grouped, dilated, and all three strided with uneven padding.
        ("conv2d depthwise, grouped and dilated", graphText("%x: f32[N,4,9,8]", "y: f32[N,6,2,2]", """
              %wd = param {init = uniform, scale = 0.3} : f32[4,1,3,3]
              %d = conv2d %x, %wd {groups = 4}
              %w2 = param {init = uniform, scale = 0.3} : f32[3,4,3,3]
              %e = conv2d %d, %w2 {dilation = [2, 2]}
              %w3 = param {init = uniform, scale = 0.3} : f32[6,1,5,3]
              %f = conv2d %e, %w3 {stride = [2, 2], groups = 3, dilation = [1, 2]}
              %w4 = param {init = uniform, scale = 0.3} : f32[6,3,2,2]
              %y = conv2d %f, %w4 {stride = [2, 2], pad = valid, groups = 2, dilation = [2, 1]}
              return %y
            """)),
        // Stride-1 depthwise convolutions whose inputs need gradients (the
        // ones above read the image): two filters per channel, "same"
        // padding, a dilated 5x5 wider than the plane, a valid 2x2.
        ("depthwise convolutions inside a network", graphText("%x: f32[N,2,5,4]", "y: f32[N,4,4,3]", """
              %w0 = param {init = uniform, scale = 0.5} : f32[2,2,1,1]
              %a = conv2d %x, %w0
              %w1 = param {init = uniform, scale = 0.3} : f32[4,1,3,3]
              %b = conv2d %a, %w1 {pad = same, groups = 2}
              %w2 = param {init = uniform, scale = 0.3} : f32[4,1,5,5]
              %c = conv2d %b, %w2 {pad = same, groups = 4, dilation = [2, 2]}
              %w3 = param {init = uniform, scale = 0.3} : f32[4,1,2,2]
              %y = conv2d %c, %w3 {pad = valid, groups = 4}
              return %y
            """)),
        // Stride-1 pools with "same" padding, as cells use them (and an
        // uneven 2x3 window). Ties, which finite differences cannot check:
        // DifferentialTests.testMaxPoolTiesSendTheGradientToTheFirstTap.
        ("stride-1 pools inside a network", graphText("%x: f32[N,2,5,4]", "y: f32[N,2,5,4]", """
              %w0 = param {init = uniform, scale = 0.5} : f32[2,2,1,1]
              %a = conv2d %x, %w0
              %r = relu %a
              %m = max_pool %r {window = [3, 3], stride = [1, 1], pad = same}
              %v = avg_pool %m {window = [3, 3], stride = [1, 1], pad = same}
              %u = max_pool %v {window = [2, 3], stride = [1, 1], pad = same}
              %t = avg_pool %u {window = [2, 3], stride = [1, 1], pad = same}
              %y = add %t, %a
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
        // At batch 1 most products have one row (the JIT calls sgemv for
        // them); %row's gradient, %p^T dq, has one row at every batch.
        // %kb's bias starts the product's rows (the JIT's sgemm adds to it).
        ("bias add and matmul with every transpose and one row", graphText("%x: f32[N,4]", "y: f32[N,2]", """
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
              %yt = matmul %kb, %t {transpose_b = true}
              %col = param {init = uniform, scale = 0.3} : f32[4,1]
              %row = param {init = uniform, scale = 0.3} : f32[1,2]
              %p = matmul %x, %col
              %q = matmul %p, %row
              %y = add %yt, %q
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
        ("softmax cross-entropy with label smoothing", graphText("%h: f32[N,5], %y: i32[N]", "loss: f32[]", """
              %w = param {init = glorot_uniform} : f32[5,4]
              %z = matmul %h, %w
              %loss = softmax_cross_entropy %z, %y {smoothing = 0.2}
              return %loss
            """)),
        ("weighted softmax cross-entropy", graphText("%h: f32[N,5], %a: i32[N], %adv: f32[N]", "loss: f32[]", """
              %w = param {init = glorot_uniform} : f32[5,3]
              %z = matmul %h, %w
              %loss = weighted_softmax_cross_entropy %z, %a, %adv
              return %loss
            """)),
        // The product is read without the bias too, so the JIT cannot
        // start its rows from the bias (see %kb above, which it does).
        ("bias add beside another reader of the product", graphText("%x: f32[N,4]", "loss: f32[]", """
              %w = param {init = glorot_uniform} : f32[4,3]
              %bias = param {init = uniform, scale = 1.0} : f32[3]
              %h = matmul %x, %w
              %hb = bias_add %h, %bias
              %s = mul %hb, %h
              %t = tanh %s
              %loss = reduce_sum %t
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

    /// Larger graphs with labels and a loss, exercising every op with odd
    /// sizes, strides 2 and 3, 1x7 and 7x1 kernels, as a whole training step.
    public static let wholePipeline: [(String, String)] = [
        ("elementwise and broadcasting", graphText("%x: f32[N,3,5], %y: i32[N]", "loss: f32[]", """
              %s = param {init = uniform, scale = 1.0} : f32[]
              %one = const {value = 1.0} : f32[]
              %f = flatten %x
              %q0 = reshape %f : f32[N,3,5]
              %s0 = param {init = uniform, scale = 2.0} : f32[]
              %q = mul %q0, %s0
              \(elementwiseChain)
              %k = div %v, %s
              %z = add %k, %k
              %fl = flatten %z
              %w = param {init = glorot_uniform} : f32[15,4]
              %logits = matmul %fl, %w
              %loss = softmax_cross_entropy %logits, %y
              return %loss
            """)),
        ("conv 3x5 stride 2, 1x7, 7x1, stride 3 valid, with batch norm", graphText("%x: f32[N,3,11,13], %y: i32[N]", "loss: f32[]", """
              %w1 = param {init = he_normal} : f32[5,3,3,5]
              %c1 = conv2d %x, %w1 {stride = [2, 2], pad = same}
              %g1 = param {init = uniform, scale = 2.0} : f32[5]
              %b1 = param {init = uniform, scale = 1.0} : f32[5]
              %m1 = state {init = zeros} : f32[5]
              %v1 = state {init = ones} : f32[5]
              %n1 = batch_norm %c1, %g1, %b1, %m1, %v1
              %r1 = relu %n1
              %w2 = param {init = he_normal} : f32[4,5,1,7]
              %c2 = conv2d %r1, %w2
              %w3 = param {init = he_normal} : f32[3,4,7,1]
              %c3 = conv2d %c2, %w3
              %t3 = tanh %c3
              %w4 = param {init = he_normal} : f32[2,3,2,2]
              %c4 = conv2d %t3, %w4 {stride = [3, 3], pad = valid}
              %w5 = param {init = he_normal} : f32[3,2,1,1]
              %c5 = conv2d %c4, %w5
              %p = global_avg_pool %c5
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)),
        // A separable block (relu, depthwise, pointwise, batch norm) on a
        // plane wide enough for the depthwise kernels' vector loops, and a
        // dilated depthwise 5x5 with a stride.
        ("separable convolutions", graphText("%x: f32[N,3,6,21], %y: i32[N]", "loss: f32[]", """
              %r = relu %x
              %wd = param {init = he_normal} : f32[3,1,3,3]
              %d = conv2d %r, %wd {groups = 3}
              %wp = param {init = he_normal} : f32[8,3,1,1]
              %pw = conv2d %d, %wp
              %g = param {init = uniform, scale = 2.0} : f32[8]
              %b = param {init = uniform, scale = 1.0} : f32[8]
              %m = state {init = zeros} : f32[8]
              %v = state {init = ones} : f32[8]
              %n = batch_norm %pw, %g, %b, %m, %v
              %wd2 = param {init = he_normal} : f32[8,1,5,5]
              %d2 = conv2d %n, %wd2 {stride = [2, 2], groups = 8, dilation = [2, 2]}
              %p = global_avg_pool %d2
              %loss = softmax_cross_entropy %p, %y
              return %loss
            """)),
        ("pools, pad, concat, bias, inference batch norm", graphText("%x: f32[N,2,9,7], %y: i32[N]", "loss: f32[]", """
              %w = param {init = he_normal} : f32[3,2,3,3]
              %bias = param {init = uniform, scale = 1.0} : f32[3]
              %c = conv2d %x, %w
              %cb = bias_add %c, %bias
              %g = param {init = uniform, scale = 2.0} : f32[3]
              %b = param {init = uniform, scale = 1.0} : f32[3]
              %m = state {init = uniform, scale = 0.5} : f32[3]
              %v = state {init = constant, value = 1.5} : f32[3]
              %n = batch_norm %cb, %g, %b, %m, %v {mode = infer}
              %mp = max_pool %n {window = [3, 2], stride = [2, 2], pad = same}
              %ap = avg_pool %n {window = [2, 3], stride = [2, 3], pad = same}
              %ap2 = avg_pool %ap {window = [2, 1], stride = [1, 1], pad = valid}
              %mp2 = max_pool %mp {window = [2, 2], stride = [3, 3], pad = valid}
              %zp = zero_pad %mp2 {pads = [1, 1, 1, 1]}
              %cat = concat %zp, %ap2
              %f = flatten %cat
              %wd = param {init = glorot_uniform} : f32[72,5]
              %logits = matmul %f, %wd
              %loss = softmax_cross_entropy %logits, %y
              return %loss
            """)),
        ("embedding, softmax, transposed matmuls, reduce_sum", graphText("%ids: i32[N,3], %h: f32[N,6]", "loss: f32[]", """
              %t = param {init = uniform, scale = 1.0} : f32[7,2]
              %e = embedding %t, %ids
              %f = flatten %e
              %u = param {init = glorot_uniform} : f32[6,6]
              %hu = matmul %h, %u {transpose_b = true}
              %s = add %f, %hu
              %sm = softmax %s
              %a = param {init = glorot_uniform} : f32[5,6]
              %z = matmul %sm, %a {transpose_b = true}
              %c = param {init = glorot_uniform} : f32[5,4]
              %cc = matmul %c, %c {transpose_a = true}
              %zz = param {init = glorot_uniform} : f32[4,5]
              %k = matmul %zz, %cc {transpose_a = true, transpose_b = true}
              %out = matmul %z, %k
              %sq = mul %out, %out
              %loss = reduce_sum %sq
              return %loss
            """)),
    ]

    /// The activations search spaces choose among, at negative and positive
    /// inputs, with leaky_relu's slope set and defaulted.
    public static let activations: [(String, String)] = [
        ("activations: leaky_relu and silu", graphText("%x: f32[N,4,3], %y: i32[N]", "loss: f32[]", """
              %s = param {init = uniform, scale = 2.0} : f32[]
              %q = mul %x, %s
              %a = leaky_relu %q {slope = 0.2}
              %b = leaky_relu %a
              %c = silu %q
              %d = silu %b
              %e = add %c, %d
              %f = mul %e, %a
              %z = flatten %f
              %w = param {init = glorot_uniform} : f32[12,3]
              %logits = matmul %z, %w
              %loss = softmax_cross_entropy %logits, %y
              return %loss
            """)),
    ]
}
