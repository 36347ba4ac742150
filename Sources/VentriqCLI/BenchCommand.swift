import ArgumentParser
import CVentriqAllocationCounter
import Foundation
import Ventriq

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure latency per window, allocations per window, arena bytes and peak RSS.",
        discussion: """
            Times two paths on one window of a real recording, interleaved so that both see the \
            same machine noise: "engine" (Interpreter.invoke on a preprocessed window) and "window" \
            (lead quality, conditioning and invoke: what scoring costs per window). Allocations \
            are counted on the benchmark thread and, with --threads N > 1, on the engine's N - 1 \
            workers, by interposing malloc. A benchmark, not a test: \
            run it on a quiet machine and compare ratios, not absolute times, across machines.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Recording whose first window is used (default: the bundled sample if present and at least one window long, else a synthetic ECG-like signal).")
    var record: String?

    @Option(name: .long, help: "Timed runs per path.")
    var iterations = 500

    @Option(name: .long, help: "Untimed runs before timing.")
    var warmup = 20

    @Option(name: .long, help: "Kernels: auto, reference, avx2, avx512, avx512_vnni, avx_vnni, neon or neon_dotprod.")
    var kernels: KernelChoice = .automatic

    @Flag(name: .long, help: "Also time each kind of op (GEMMs, attention, LayerNorm, ...) through the engine's observer.")
    var ops = false

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .long, help: "With --json: include every timed run (ms), for side-by-side scripts that pool rounds.")
    var raw = false

    @OptionGroup var reading: ReadingOptions
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard iterations >= 10 else { throw ValidationError("--iterations must be at least 10") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        // What the process holds before the model: the Swift runtime, Foundation and its ICU data.
        let rssAtStart = ProcessMemory.residentBytes()
        let model = try modelOptions.load()
        guard kernels.isAvailable else {
            throw ValidationError("--kernels \(kernels.rawValue) is not available in this build or on this CPU")
        }
        let scorer = try Scorer(model: model, kernels: kernels, threads: threading.threads)
        let a = model.config.architecture
        let (signal, count, source) = try benchSignal(scorer)
        let macs = scorer.interpreter.graph.macsPerWindow

        var engine = [UInt64](repeating: 0, count: iterations)
        var window = [UInt64](repeating: 0, count: iterations)
        for _ in 0..<warmup { try scorer.scoreWindow(signal, sampleCount: count, start: 0) }
        var allocations: UInt64 = 0, allocatedBytes: UInt64 = 0
        // The engine's workers count too (the counter is per thread): [allocations, bytes] each.
        let threads = scorer.interpreter.threads
        let workerCounts = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 2 * threads)
        defer { workerCounts.deallocate() }
        workerCounts.initialize(repeating: 0)
        scorer.interpreter.runOnEachThread { thread in if thread > 0 { vq_allocation_counter_start() } }
        vq_allocation_counter_start()
        for i in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try scorer.scoreWindow(signal, sampleCount: count, start: 0)
            let t1 = DispatchTime.now().uptimeNanoseconds
            try scorer.interpreter.invoke()
            let t2 = DispatchTime.now().uptimeNanoseconds
            window[i] = t1 - t0
            engine[i] = t2 - t1
        }
        vq_allocation_counter_stop()
        scorer.interpreter.runOnEachThread { thread in
            guard thread > 0 else { return }
            vq_allocation_counter_stop()
            workerCounts[2 * thread] = vq_allocation_counter_allocations()
            workerCounts[2 * thread + 1] = vq_allocation_counter_bytes()
        }
        allocations = vq_allocation_counter_allocations() + stride(from: 0, to: 2 * threads, by: 2).reduce(0) { $0 + workerCounts[$1] }
        allocatedBytes = vq_allocation_counter_bytes() + stride(from: 1, to: 2 * threads, by: 2).reduce(0) { $0 + workerCounts[$1] }

        let memory = scorer.interpreter.memory!
        let report = BenchReport(
            model: model.config.name, sha256: model.sha256, kernels: scorer.interpreter.kernelName ?? "-",
            threads: scorer.interpreter.threads, input: source,
            iterations: iterations, warmup: warmup, macsPerWindow: macs,
            engine: .init(engine), window: .init(window),
            allocationsPerWindow: Double(allocations) / Double(2 * iterations),
            allocatedBytesPerWindow: Double(allocatedBytes) / Double(2 * iterations),
            allocationCounting: vq_allocation_counter_available() == 1,
            arenaBytes: memory.arenaBytes, activationBytes: memory.activationBytes,
            activationLowerBoundBytes: memory.lowerBoundBytes, activationUnsharedBytes: memory.unsharedBytes,
            weightBytes: memory.weightBytes, modelFileBytes: model.file.fileSize, peakRSSBytes: peakRSS(),
            rssAtStartBytes: rssAtStart,
            windowSeconds: Double(a.windowSamples) / a.fsHz,
            engineSamplesMs: raw ? engine.map { Double($0) / 1e6 } : nil,
            windowSamplesMs: raw ? window.map { Double($0) / 1e6 } : nil)
        if ops && !json { print("\n" + (try opBreakdown(scorer.interpreter))) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table)
        }
    }

    /// The first window of the chosen recording, as the model's leads at its rate.
    private func benchSignal(_ scorer: Scorer) throws -> ([Float], Int, String) {
        let a = scorer.config.architecture
        let sample = URL(fileURLWithPath: "examples/recordings/anterior_mi_00190.hea")
        var fallback = "synthetic beats"
        if let path = record ?? (FileManager.default.fileExists(atPath: sample.path) ? sample.path : nil) {
            let recording = try RecordingReader.read(URL(fileURLWithPath: path), options: reading.readOptions())
            let (signal, count, _) = try scorer.modelSignal(recording)
            if count >= a.windowSamples { return (signal, count, path) }
            // An explicit recording must fit; the bundled 10 s sample is simply too short for
            // models with longer windows, which then get the synthetic signal.
            guard record == nil else {
                throw ValidationError("\(path) is shorter than one window (\(a.windowSamples) samples at \(a.fsHz) Hz)")
            }
            fallback += " (the bundled sample is shorter than this model's \(a.windowSamples)-sample window)"
        }
        // A 72 bpm train of narrow Gaussian "beats" on every lead: enough to exercise every kernel.
        let n = a.windowSamples
        var signal = [Float](repeating: 0, count: a.leads.count * n)
        for lead in 0..<a.leads.count {
            for i in 0..<n {
                let t = Double(i) / a.fsHz
                let phase = t.truncatingRemainder(dividingBy: 60.0 / 72.0) - 0.3
                signal[lead * n + i] = Float((1.0 + 0.1 * Double(lead)) * exp(-phase * phase / 0.0002))
            }
        }
        return (signal, n, fallback)
    }

    /// Median time per window spent in each kind of op (measured around each op, so slightly
    /// above the plain invoke's total).
    private func opBreakdown(_ interpreter: Interpreter) throws -> String {
        let graph = interpreter.graph
        func kind(_ op: EncoderGraph.Op) -> String {
            switch op {
            case .linear: return "float GEMM (Linear)"
            case .int8Linear, .int8LinearRequantized: return "int8 GEMM (Linear)"
            case .quantize: return "quantize float -> int8"
            case .lookup: return "GELU table (int8)"
            case .gelu: return "GELU (float)"
            case .attention: return "attention (float)"
            case .int8Attention: return "attention (int8)"
            case .layerNorm: return "LayerNorm (float)"
            case .add, .addWeight: return "residual / positional add"
            case .meanRows, .sigmoid: return "pooling and heads"
            }
        }
        let kinds = graph.ops.map(kind)
        var perKind: [String: [UInt64]] = [:]
        var start: UInt64 = 0
        for _ in 0..<max(iterations / 5, 20) {
            var totals: [String: UInt64] = [:]
            try interpreter.invoke { step, before in
                let now = DispatchTime.now().uptimeNanoseconds
                if before { start = now } else { totals[kinds[step], default: 0] += now - start }
            }
            for (k, v) in totals { perKind[k, default: []].append(v) }
        }
        let medians = perKind.mapValues { LatencySummary($0).medianMs }
        let total = medians.values.reduce(0, +)
        var lines = ["op kind                        median ms per window   share"]
        for (k, v) in medians.sorted(by: { $0.value > $1.value }) {
            lines.append("\(k.padding(toLength: 30, withPad: " ", startingAt: 0)) \(String(format: "%10.3f", v))          \(String(format: "%5.1f", 100 * v / total)) %")
        }
        return lines.joined(separator: "\n")
    }

    /// Peak resident memory of this process image (`ProcessMemory.peakResidentBytes`: VmHWM, reset
    /// at exec); getrusage's ru_maxrss where /proc is missing.
    private func peakRSS() -> Int {
        let bytes = ProcessMemory.peakResidentBytes()
        if bytes > 0 { return bytes }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024  // Linux reports kilobytes
    }
}

struct LatencySummary: Codable {
    var medianMs: Double
    var p99Ms: Double
    var meanMs: Double
    var minMs: Double
    var maxMs: Double

    init(_ nanoseconds: [UInt64]) {
        let sorted = nanoseconds.sorted().map { Double($0) / 1e6 }
        func quantile(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded(.up)))] }
        medianMs = quantile(0.5)
        p99Ms = quantile(0.99)
        meanMs = sorted.reduce(0, +) / Double(sorted.count)
        minMs = sorted.first!
        maxMs = sorted.last!
    }
}

struct BenchReport: Codable {
    var model: String
    var sha256: String
    var kernels: String
    /// Engine threads per window (--threads).
    var threads: Int
    var input: String
    var iterations: Int
    var warmup: Int
    var macsPerWindow: Int
    var engine: LatencySummary
    var window: LatencySummary
    var allocationsPerWindow: Double
    var allocatedBytesPerWindow: Double
    var allocationCounting: Bool
    var arenaBytes: Int
    var activationBytes: Int
    var activationLowerBoundBytes: Int
    var activationUnsharedBytes: Int
    var weightBytes: Int
    var modelFileBytes: Int
    var peakRSSBytes: Int
    /// VmRSS when the command started, before the model was read: the runtime's own share.
    var rssAtStartBytes: Int
    var windowSeconds: Double
    var engineSamplesMs: [Double]?
    var windowSamplesMs: [Double]?

    var table: String {
        func ms(_ v: Double) -> String { String(format: "%8.3f", v) }
        func mib(_ b: Int) -> String { String(format: "%.2f MiB", Double(b) / 1_048_576) }
        let gmacs = Double(macsPerWindow) / (engine.medianMs * 1e-3) / 1e9
        return """
            ventriq bench: model \(model) (sha256 \(sha256.prefix(12))...), kernels \(kernels), \(threads) thread\(threads == 1 ? "" : "s")
            input: first window of \(input); \(warmup) warm-up + \(iterations) timed runs per path, interleaved

            path                                     median ms   p99 ms   mean ms    min ms    max ms
            engine (invoke, preprocessed window)    \(ms(engine.medianMs)) \(ms(engine.p99Ms)) \(ms(engine.meanMs)) \(ms(engine.minMs)) \(ms(engine.maxMs))
            window (quality + conditioning + invoke)\(ms(window.medianMs)) \(ms(window.p99Ms)) \(ms(window.meanMs)) \(ms(window.minMs)) \(ms(window.maxMs))

            throughput     \(String(format: "%.2f", gmacs)) GMAC/s (\(macsPerWindow) MACs per window); real-time factor \(String(format: "%.0f", windowSeconds * 1000 / window.medianMs))x
            allocations    \(allocationCounting ? String(format: "%.2f per window (%.0f bytes)", allocationsPerWindow, allocatedBytesPerWindow) : "not counted on this platform")
            arena          \(arenaBytes) bytes (\(mib(arenaBytes))): activations \(activationBytes) (lower bound \(activationLowerBoundBytes), \(String(format: "%.3f", Double(activationBytes) / Double(activationLowerBoundBytes)))x; without sharing \(activationUnsharedBytes)), weights \(weightBytes)
            model file     \(modelFileBytes) bytes
            peak RSS       \(peakRSSBytes) bytes (\(mib(peakRSSBytes))): \(mib(rssAtStartBytes)) before the model (Swift runtime, Foundation), \(mib(peakRSSBytes - rssAtStartBytes)) model, engine and bench
            """
    }
}
