/// An LSTM cell of `size` units (input and hidden), as
/// ir-specs/models/lstm_cell.nasir writes it, small enough for the
/// interpreter: the recurrent tests unroll it.
public func lstmCellText(size n: Int, scale: Double = 0.5) -> String {
    graphText("%x: f32[N,\(n)], %h: f32[N,\(n)], %c: f32[N,\(n)]", "h: f32[N,\(n)], c: f32[N,\(n)]", """
      %W = param {init = uniform, scale = \(scale)} : f32[\(n),\(4 * n)]
      %U = param {init = uniform, scale = \(scale)} : f32[\(n),\(4 * n)]
      %b = param {init = uniform, scale = \(scale)} : f32[\(4 * n)]
      %xw = matmul %x, %W
      %hu = matmul %h, %U
      %gates = bias_add %xw.hu, %b
      %xw.hu = add %xw, %hu
      %i = slice %gates {axis = 1, start = 0, size = \(n)}
      %f = slice %gates {axis = 1, start = \(n), size = \(n)}
      %g = slice %gates {axis = 1, start = \(2 * n), size = \(n)}
      %o = slice %gates {axis = 1, start = \(3 * n), size = \(n)}
      %keep = mul %f.gate, %c
      %f.gate = sigmoid %f
      %write = mul %i.gate, %g.act
      %i.gate = sigmoid %i
      %g.act = tanh %g
      %c_next = add %keep, %write
      %h_next = mul %o.gate, %c.act
      %o.gate = sigmoid %o
      %c.act = tanh %c_next
      return %h_next, %c_next
    """)
}

/// A cell without memory (an Elman RNN: h' = tanh(x W + h U + b)).
public func elmanCellText(size n: Int, scale: Double = 0.5) -> String {
    graphText("%x: f32[N,\(n)], %h: f32[N,\(n)]", "h: f32[N,\(n)]", """
      %W = param {init = uniform, scale = \(scale)} : f32[\(n),\(n)]
      %U = param {init = uniform, scale = \(scale)} : f32[\(n),\(n)]
      %b = param {init = zeros} : f32[\(n)]
      %xw = matmul %x, %W
      %hu = matmul %h, %U
      %z = add %xw, %hu
      %zb = bias_add %z, %b
      %h_next = tanh %zb
      return %h_next
    """)
}
