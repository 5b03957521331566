/// Writes the body of one LLVM IR function as text: numbered registers,
/// basic blocks, and counted loops with phi nodes. Kernel lowering builds on
/// it; the text goes to LLVM through the C API's IR parser (see JIT.swift),
/// and is also the kernel cache's key and what `--emit llvm` prints.
final class IRWriter {
    private(set) var lines: [String] = []
    private var counter = 0
    private var blockCounter = 0
    /// The block instructions are currently appended to.
    private(set) var block = "entry"

    func fresh(_ hint: String = "r") -> String {
        counter += 1
        return "%\(hint)\(counter)"
    }

    func emit(_ line: String) { lines.append("  " + line) }

    /// `%r = <rhs>`; returns %r.
    @discardableResult
    func value(_ rhs: String, _ hint: String = "r") -> String {
        let r = fresh(hint)
        emit("\(r) = \(rhs)")
        return r
    }

    func label(_ name: String) {
        lines.append("\(name):")
        block = name
    }

    func newBlock(_ hint: String) -> String {
        blockCounter += 1
        return "\(hint)\(blockCounter)"
    }

    // MARK: Integer (i64) arithmetic; operands are registers or literals.

    func add(_ a: String, _ b: String) -> String { value("add nsw i64 \(a), \(b)", "i") }
    func mul(_ a: String, _ b: String) -> String { value("mul nsw i64 \(a), \(b)", "i") }
    func sub(_ a: String, _ b: String) -> String { value("sub nsw i64 \(a), \(b)", "i") }
    func sdiv(_ a: String, _ b: String) -> String { value("sdiv i64 \(a), \(b)", "i") }
    func srem(_ a: String, _ b: String) -> String { value("srem i64 \(a), \(b)", "i") }

    // MARK: Memory

    func gep(_ elementType: String, _ base: String, _ index: String) -> String {
        value("getelementptr inbounds \(elementType), \(elementType)* \(base), i64 \(index)", "p")
    }

    func loadF(_ base: String, _ index: String) -> String {
        let p = gep("float", base, index)
        return value("load float, float* \(p), align 4", "v")
    }

    func storeF(_ v: String, _ base: String, _ index: String) {
        let p = gep("float", base, index)
        emit("store float \(v), float* \(p), align 4")
    }

    func loadI(_ base: String, _ index: String) -> String {
        let p = gep("i32", base, index)
        let v = value("load i32, i32* \(p), align 4", "v")
        return value("sext i32 \(v) to i64", "i")
    }

    // MARK: Float arithmetic

    func f(_ op: String, _ a: String, _ b: String) -> String { value("\(op) float \(a), \(b)", "f") }

    /// A float literal LLVM accepts exactly: the hexadecimal form of the
    /// double nearest the f32 value.
    static func literal(_ v: Double) -> String {
        let bits = Double(Float(v)).bitPattern
        return "0x" + String(bits, radix: 16, uppercase: true).leftPadded(16)
    }

    // MARK: Control flow

    /// for i in start..<end { body(i) } — `end` may be a register or a literal.
    func loop(from start: String = "0", to end: String, _ hint: String = "i", _ body: (String) throws -> Void) rethrows {
        let header = newBlock("\(hint)_head"), bodyLabel = newBlock("\(hint)_body"), exit = newBlock("\(hint)_exit")
        let before = block
        emit("br label %\(header)")
        label(header)
        let i = fresh(hint)
        let nextName = fresh(hint + "_next")
        let latchPlaceholder = lines.count
        emit("")  // the phi, written once the latch block is known
        let done = value("icmp sge i64 \(i), \(end)", "c")
        emit("br i1 \(done), label %\(exit), label %\(bodyLabel)")
        label(bodyLabel)
        try body(i)
        emit("\(nextName) = add nsw i64 \(i), 1")
        let latch = block
        emit("br label %\(header)")
        lines[latchPlaceholder] = "  \(i) = phi i64 [ \(start), %\(before) ], [ \(nextName), %\(latch) ]"
        label(exit)
    }

    /// if cond { body }.
    func when(_ cond: String, _ body: () throws -> Void) rethrows {
        let then = newBlock("then"), join = newBlock("join")
        emit("br i1 \(cond), label %\(then), label %\(join)")
        label(then)
        try body()
        emit("br label %\(join)")
        label(join)
    }

    /// if cond { body } else { otherwise }.
    func when(_ cond: String, _ body: () throws -> Void, otherwise: () throws -> Void) rethrows {
        let then = newBlock("then"), other = newBlock("else"), join = newBlock("join")
        emit("br i1 \(cond), label %\(then), label %\(other)")
        label(then)
        try body()
        emit("br label %\(join)")
        label(other)
        try otherwise()
        emit("br label %\(join)")
        label(join)
    }

    var text: String { lines.joined(separator: "\n") }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
