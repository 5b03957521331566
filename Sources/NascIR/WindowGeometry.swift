/// Where a sliding window (a convolution's filter, a pool's window) sits
/// along one axis. `same` pads so the output has ceil(size / stride)
/// positions, splitting the padding as TensorFlow does (the extra row or
/// column at the end); `valid` does not pad. The interpreter, the LLVM
/// lowering and the C emitter all index through this one definition.
public struct WindowGeometry: Sendable, Equatable {
    public let size, kernel, stride, outputs, padBefore: Int

    public init(size: Int, kernel: Int, stride: Int, pad: String) {
        self.size = size
        self.kernel = kernel
        self.stride = stride
        if pad == "same" {
            outputs = (size - 1) / stride + 1
            padBefore = max((outputs - 1) * stride + kernel - size, 0) / 2
        } else {
            outputs = (size - kernel) / stride + 1
            padBefore = 0
        }
    }

    /// Input position of window tap `k` at output position `o` (may be out of range: padding).
    @inline(__always) public func input(_ o: Int, _ k: Int) -> Int { o * stride - padBefore + k }
}
