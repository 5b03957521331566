import Foundation

/// Stopping politely on SIGINT (Ctrl-C) and SIGTERM (a scheduler, systemd,
/// `kill`): the long commands (search, worker, train, train-lm, retrain,
/// correlate) install these handlers; their loops ask `check()` at safe
/// points (each training step, each turn of a search's or a worker's loop)
/// and unwind with `Interrupted`, giving leases back and keeping what was
/// saved, then exit 130 or 143 saying how to continue. A second signal ends
/// the process at once.
///
/// The handler only records the signal and writes a line (both
/// async-signal-safe); everything else happens on the thread that checks.
public enum Interruption {
    /// The signal received, 0 while none was.
    nonisolated(unsafe) private static var received: Int32 = 0

    /// Installs the handlers for SIGINT and SIGTERM. Also ignores SIGXFSZ,
    /// so that a file-size limit (`ulimit -f`) makes a write fail with an
    /// error naming the file rather than killing the process.
    public static func install() {
        signal(SIGXFSZ, SIG_IGN)
        for s in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if os(Linux)
            action.__sigaction_handler.sa_handler = Interruption.handle
            #else
            action.__sigaction_u.__sa_handler = Interruption.handle
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(s, &action, nil)
        }
    }

    private static let handle: @convention(c) (Int32) -> Void = { signal in
        // Static text only: nothing here may allocate.
        func say(_ text: StaticString) { _ = write(2, text.utf8Start, text.utf8CodeUnitCount) }
        if Interruption.received != 0 {
            say("\nnasc: stopped at once\n")
            _exit(128 + signal)
        }
        Interruption.received = signal
        say(signal == SIGINT ? "\nnasc: SIGINT received: stopping at the next safe point (a second one stops at once)\n"
                             : "\nnasc: SIGTERM received: stopping at the next safe point (a second one stops at once)\n")
    }

    /// The signal received so far (nil: none).
    public static var requested: Int32? { received == 0 ? nil : received }

    /// Throws `Interrupted` once a signal has arrived.
    public static func check() throws {
        let s = received
        if s != 0 { throw Interrupted(signal: s) }
    }

    /// For tests: as if `signal` had arrived (0 forgets it).
    public static func simulate(_ signal: Int32) { received = signal }
}

/// A command stopped by SIGINT or SIGTERM at a safe point.
public struct Interrupted: Error, CustomStringConvertible {
    public var signal: Int32
    /// How to continue, said by the layer that knows (the checkpoint
    /// written last, the command to run again).
    public var continuation = ""
    public init(signal: Int32) { self.signal = signal }
    public var name: String { signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)" }
    /// 128 + the signal, as a shell reports a process that a signal ended: 130, 143.
    public var exitStatus: Int32 { 128 + signal }
    public var description: String { "stopped by \(name)" }
}
