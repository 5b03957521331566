import Foundation
import NascCEmitter
import NascIR

/// Where a child's latency is measured: the JIT's inference (what nasc
/// itself runs) or the C that `nasc emit-c` writes, compiled once per child
/// with the system's C compiler (what a user who deploys the C runs).
public enum LatencyTarget: String, CaseIterable, Sendable {
    case jit
    case emittedC = "emitted-c"

    /// The target a search's settings record (`latency_target`); runs from before it was recorded measured the JIT.
    public init(recordedIn settings: [String: Any]) {
        self = (settings["latency_target"] as? String).flatMap(LatencyTarget.init(rawValue:)) ?? .jit
    }
}

/// A child's latency as emitted C: its `emit-c` source beside a small
/// timing driver, built with `$CC` (default cc) as emit-c suggests
/// (`-O3 -march=native`), run on one image: the median of the timed runs
/// after the warm-up ones, timed inside the program (no process start).
enum EmittedCLatency {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static var compiler: String { ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc" }

    static let driver = """
        /* Times child_infer on one image: prints the median of RUNS timed calls after WARM untimed ones, in ms. */
        #define _POSIX_C_SOURCE 199309L
        #include <stdio.h>
        #include <stdlib.h>
        #include <time.h>
        #include "child.h"

        static float input[CHILD_INPUT_SIZE], output[CHILD_OUTPUT_SIZE];

        static double now_ms(void) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
        }

        static int ascending(const void *a, const void *b) {
            double x = *(const double *)a, y = *(const double *)b;
            return (x > y) - (x < y);
        }

        int main(int argc, char **argv) {
            int warm, runs;
            double *times;
            volatile float sink = 0;
            FILE *f;
            if (argc != 4) return 2;
            warm = atoi(argv[1]);
            runs = atoi(argv[2]);
            f = fopen(argv[3], "rb");
            if (!f || fread(input, sizeof input, 1, f) != 1) { fprintf(stderr, "cannot read the image %s\\n", argv[3]); return 1; }
            fclose(f);
            times = malloc(sizeof(double) * (size_t)runs);
            if (!times || runs < 1) return 1;
            for (int k = 0; k < warm + runs; k++) {
                double start = now_ms();
                child_infer(input, output);
                double end = now_ms();
                sink += output[0];
                if (k >= warm) times[k - warm] = end - start;
            }
            qsort(times, (size_t)runs, sizeof(double), ascending);
            printf("%.6f\\n", times[runs / 2]);
            free(times);
            return 0;
        }

        """

    static func measure(_ graph: Graph, weights: [String: Tensor], image: [Float], warmUp: Int, runs: Int) throws -> Double {
        let emitted = try CEmitter.emit(graph, weights: weights, name: "child")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nasc-latency-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try emitted.header.writeWhole(to: "\(folder)/child.h")
        try emitted.source.writeWhole(to: "\(folder)/child.c")
        try driver.writeWhole(to: "\(folder)/timing.c")
        try image.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(folder)/image.f32"))
        let built = try run(compiler, ["-std=c99", "-O3", "-march=native", "-o", "\(folder)/timing", "\(folder)/child.c", "\(folder)/timing.c", "-lm"], in: folder)
        guard built.status == 0 else {
            throw Failure(description: "the emitted C did not compile with \(compiler) -std=c99 -O3 -march=native (set CC to another compiler): \(built.output.suffix(600))")
        }
        let timed = try run("\(folder)/timing", [String(warmUp), String(runs), "\(folder)/image.f32"], in: folder)
        guard timed.status == 0, let ms = Double(timed.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "the emitted C's timing program failed (status \(timed.status)): \(timed.output.suffix(600))")
        }
        return ms
    }

    /// Runs a program (a bare name is looked up on PATH), its output and errors into one file: no pipe to fill.
    static func run(_ program: String, _ arguments: [String], in folder: String) throws -> (status: Int32, output: String) {
        let p = Process()
        if program.contains("/") {
            p.executableURL = URL(fileURLWithPath: program)
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [program] + arguments
        }
        let log = "\(folder)/output-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw Failure(description: "cannot run \(program): \(error.localizedDescription)") }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
