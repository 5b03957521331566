import Foundation
import NascIR

/// Batch normalization over a [N, C] or [N, C, H, W] tensor. In train mode it
/// normalizes by the batch's own mean and biased variance; in infer mode by
/// the running statistics passed as operands. Updating the running statistics
/// is ordinary graph arithmetic that the training graph adds (see
/// RunningStatistics.swift in NascPasses), so this op has no side effects.
extension Interpreter {
    struct Statistics {
        var mean: Tensor
        var variance: Tensor
    }

    static func batchStatistics(_ x: Tensor, unbiased: Bool = false) -> Statistics {
        let (n, c, inner) = (x.shape[0], x.shape[1], x.inner)
        let m = Double(n * inner)
        var mean = Tensor(shape: [c]), variance = Tensor(shape: [c])
        for k in 0..<c {
            var s = 0.0
            for i in 0..<n { for j in 0..<inner { s += x.data[(i * c + k) * inner + j] } }
            mean.data[k] = s / m
            var v = 0.0
            for i in 0..<n { for j in 0..<inner { let d = x.data[(i * c + k) * inner + j] - mean.data[k]; v += d * d } }
            variance.data[k] = v / (unbiased ? max(m - 1, 1) : m)
        }
        return Statistics(mean: mean, variance: variance)
    }

    /// The statistics a batch-norm op normalizes with, in either mode.
    private static func statistics(_ x: Tensor, mean: Tensor, variance: Tensor, _ a: Attributes) -> Statistics {
        a.symbol("mode") == "train" ? batchStatistics(x) : Statistics(mean: mean, variance: variance)
    }

    /// Calls `body(flat index, channel)` for every element of a [N, C, ...] tensor.
    private static func forEachElement(_ x: Tensor, _ body: (Int, Int) -> Void) {
        let (n, c, inner) = (x.shape[0], x.shape[1], x.inner)
        for i in 0..<n { for k in 0..<c { for j in 0..<inner { body((i * c + k) * inner + j, k) } } }
    }

    static func batchNorm(_ x: [Tensor], _ a: Attributes) -> Tensor {
        let (input, gamma, beta) = (x[0], x[1], x[2])
        let s = statistics(input, mean: x[3], variance: x[4], a)
        let eps = a.float("eps")
        var y = input
        forEachElement(input) { i, k in
            y.data[i] = gamma.data[k] * (input.data[i] - s.mean.data[k]) / (s.variance.data[k] + eps).squareRoot() + beta.data[k]
        }
        return y
    }

    /// dx. In train mode the batch statistics depend on x, which gives the
    /// two correction terms: dx = istd/M * (M*g - sum(g) - xhat*sum(g*xhat)),
    /// with g = dy*gamma and M the number of elements per channel.
    static func batchNormGrad(_ x: [Tensor], _ a: Attributes) -> Tensor {
        let (dy, input, gamma) = (x[0], x[1], x[2])
        let s = statistics(input, mean: x[3], variance: x[4], a)
        let eps = a.float("eps")
        let c = input.shape[1]
        let istd = (0..<c).map { 1 / (s.variance.data[$0] + eps).squareRoot() }
        var dx = Tensor(shape: input.shape)
        if a.symbol("mode") == "infer" {
            forEachElement(input) { i, k in dx.data[i] = dy.data[i] * gamma.data[k] * istd[k] }
            return dx
        }
        let m = Double(input.count / c)
        var sumG = [Double](repeating: 0, count: c), sumGX = [Double](repeating: 0, count: c)
        forEachElement(input) { i, k in
            let g = dy.data[i] * gamma.data[k]
            sumG[k] += g
            sumGX[k] += g * (input.data[i] - s.mean.data[k]) * istd[k]
        }
        forEachElement(input) { i, k in
            let xhat = (input.data[i] - s.mean.data[k]) * istd[k]
            dx.data[i] = istd[k] / m * (m * dy.data[i] * gamma.data[k] - sumG[k] - xhat * sumGX[k])
        }
        return dx
    }

    /// dgamma = sum of dy * xhat per channel.
    static func batchNormGradGamma(_ x: [Tensor], _ a: Attributes) -> Tensor {
        let (dy, input) = (x[0], x[1])
        let s = statistics(input, mean: x[2], variance: x[3], a)
        let eps = a.float("eps")
        var out = Tensor(shape: [input.shape[1]])
        forEachElement(input) { i, k in
            out.data[k] += dy.data[i] * (input.data[i] - s.mean.data[k]) / (s.variance.data[k] + eps).squareRoot()
        }
        return out
    }
}
