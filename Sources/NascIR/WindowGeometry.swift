/// Where a sliding window (a convolution's filter, a pool's window) sits
/// along one axis. `same` pads so the output has ceil(size / stride)
/// positions, splitting the padding as TensorFlow does (the extra row or
/// column at the end); `valid` does not pad. A dilated window spaces its
/// taps `dilation` apart, so it spans `extent` = dilation (kernel - 1) + 1
/// positions. The interpreter, the LLVM lowering and the C emitter all
/// index through this one definition.
public struct WindowGeometry: Sendable, Equatable {
    public let size, kernel, stride, outputs, padBefore: Int
    public let dilation: Int

    public init(size: Int, kernel: Int, stride: Int, pad: String, dilation: Int = 1) {
        self.size = size
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        let extent = dilation * (kernel - 1) + 1
        if pad == "same" {
            outputs = (size - 1) / stride + 1
            padBefore = max((outputs - 1) * stride + extent - size, 0) / 2
        } else {
            outputs = (size - extent) / stride + 1
            padBefore = 0
        }
    }

    /// Positions the window spans.
    public var extent: Int { dilation * (kernel - 1) + 1 }

    /// The window of a stride-1 convolution's input gradient: input i
    /// receives output i + padBefore - k d through tap k, so the gradient is
    /// a window over the outputs with the taps in reverse order (tap
    /// kernel - 1 - k), padded by extent - 1 - padBefore, that yields every
    /// input position.
    public var reversed: WindowGeometry {
        precondition(stride == 1, "only a stride-1 window reverses into a window")
        return WindowGeometry(size: outputs, kernel: kernel, outputs: size, padBefore: extent - 1 - padBefore, dilation: dilation)
    }

    private init(size: Int, kernel: Int, outputs: Int, padBefore: Int, dilation: Int) {
        (self.size, self.kernel, self.stride, self.outputs, self.padBefore, self.dilation) = (size, kernel, 1, outputs, padBefore, dilation)
    }

    /// Input position of window tap `k` at output position `o` (may be out of range: padding).
    @inline(__always) public func input(_ o: Int, _ k: Int) -> Int { o * stride - padBefore + k * dilation }
}
