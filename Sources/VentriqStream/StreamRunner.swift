import Atomics
import Dispatch
import Foundation
import Metrics
import Ventriq

/// What the runner needs from a firmware profile (or from defaults for ad-hoc runs).
public struct StreamSettings: Sendable {
    /// Frames between window starts, at the source's rate.
    public var hopSeconds: Double
    /// Ring capacity in seconds of the source.
    public var ringSeconds: Double = 30
    /// Windows with a flat, saturated or noisy lead are reported but not scored.
    public var qualityGate: Bool = true
    /// Risk thresholds replacing the model's, by disease name.
    public var thresholds: [String: Double] = [:]
    /// Latency budget in milliseconds (reported against in the summary; 0: none).
    public var latencyBudgetMilliseconds: Double = 0
    /// Extra dimensions on every metric (e.g. [("device", "cart-7")] when a daemon runs several streams).
    public var metricDimensions: [(String, String)] = []

    public init(hopSeconds: Double, ringSeconds: Double = 30, qualityGate: Bool = true, thresholds: [String: Double] = [:],
                latencyBudgetMilliseconds: Double = 0) {
        self.hopSeconds = hopSeconds
        self.ringSeconds = ringSeconds
        self.qualityGate = qualityGate
        self.thresholds = thresholds
        self.latencyBudgetMilliseconds = latencyBudgetMilliseconds
    }
}

/// Why a window was not scored.
public enum DropReason: String, Sendable, CaseIterable {
    case backlog, xrun, qualityGate = "quality_gate", sourceGap = "source_gap", invalidSamples = "invalid_samples"
}

/// Counts and latencies of a stream run (the final summary line).
public struct StreamSummary: Sendable, Equatable {
    public var windowsScored = 0
    public var dropped: [DropReason: Int] = [:]
    public var xruns = 0
    public var gaps = 0
    public var framesRead = 0
    public var latencyP50Milliseconds = 0.0
    public var latencyP99Milliseconds = 0.0
    public var latencyMaxMilliseconds = 0.0
    public var latencyBudgetMilliseconds = 0.0
    public var windowsOverBudget = 0
    /// Resident memory after the first 10 scored windows (start-up done; nil for a shorter
    /// stream, written as null) and when the stream ended.
    public var rssStartBytes: Int?
    public var rssEndBytes = 0
    public var windowsTotal: Int { windowsScored + dropped.values.reduce(0, +) }
}

/// Runs a stream: a capture thread moves frames from the source into the ring; the calling
/// thread cuts windows of the model's length every hop, maps channels to leads, resamples to the
/// model's rate when needed, checks lead quality, conditions and scores each window exactly as
/// `ventriq score` does (`Scorer.scoreWindow`), and writes one JSON line per window (scored,
/// gated or dropped, with the reason) to `output`. Every window is accounted for.
///
/// Memory: everything is allocated at init; the per-window path (copy, map, resample, quality,
/// conditioning, inference, line formatting, write) allocates nothing.
///
/// Threads: the capture thread touches only the source, the ring and the atomic capture
/// counters; everything else belongs to the thread that calls `run()` (hence `@unchecked`).
public final class StreamRunner: @unchecked Sendable {
    public let scorer: Scorer
    public let source: SampleSource
    public let settings: StreamSettings
    public let ring: FrameRing
    private let output: Int32
    private let stopRequested = ManagedAtomic<Bool>(false)
    private let xruns = ManagedAtomic<Int>(0)
    private let gaps = ManagedAtomic<Int>(0)
    /// Set by the capture thread before it finishes the ring (the ring's release/acquire orders it).
    private var captureFailure: String?

    // Window geometry at the source's rate and at the model's.
    public let windowFrames: Int
    public let hopFrames: Int
    private let modelSamples: Int
    private let map: LeadMap
    private let resampler: Resampler?

    // Buffers for one window (allocated once).
    private var channelMajor: [Float]
    private var leadMajor: [Float]
    private var resampled: [Float]
    private var line = LineBuffer()
    private var latencies: LatencyHistogram
    private let thresholds: [Double]
    private let metricsScored: Counter
    private let metricsDropped: [DropReason: Counter]
    private let metricsLatency: Metrics.Timer

    public private(set) var summary = StreamSummary()

    /// Called on the scoring thread after each scored (not gated) window with its start frame
    /// and the engine's outputs; for embedding applications and tests. Must not escape the views.
    public var onWindow: ((Int, InterpreterOutputs) -> Void)?

    /// - Parameter output: file descriptor the JSON lines go to (1 for standard output).
    ///   - threads: the engine's threads per window (`Scorer.init(threads:)`); the workers idle
    ///     asleep between hops.
    ///   - metricsFactory: where the counters and the latency timer go; nil: the process's
    ///     bootstrapped backend (`MetricsSystem.bootstrap`, a no-op until a daemon sets one).
    public init(model: Model, source: SampleSource, settings: StreamSettings, output: Int32 = 1,
                kernels: KernelChoice = .automatic, threads: Int = 1, metricsFactory: MetricsFactory? = nil) throws {
        let c = model.config, a = c.architecture
        scorer = try Scorer(model: model, kernels: kernels, threads: threads)
        self.source = source
        self.settings = settings
        self.output = output
        let rate = source.sampleRateHz
        windowFrames = Int((Double(a.windowSamples) / a.fsHz * rate).rounded())
        hopFrames = Int((settings.hopSeconds * rate).rounded())
        guard hopFrames > 0, hopFrames <= windowFrames else {
            throw SourceError(source: source.name, problem: "hop \(settings.hopSeconds) s must be in (0, window \(Double(a.windowSamples) / a.fsHz) s]")
        }
        modelSamples = a.windowSamples
        do { map = try LeadMap(channelNames: source.channelNames, modelLeads: a.leads) } catch {
            throw SourceError(source: source.name, problem: error.description)
        }
        if rate != a.fsHz {
            do { resampler = try Resampler(fromHz: rate, toHz: a.fsHz) } catch { throw SourceError(source: source.name, problem: error.description) }
            let produced = resampler!.outputCount(forInputCount: windowFrames)
            guard produced == modelSamples else {
                throw SourceError(source: source.name, problem: "a \(windowFrames)-frame window at \(rate) Hz resamples to \(produced) samples, not the model's \(modelSamples)")
            }
        } else {
            resampler = nil
        }
        let ringFrames = max(Int(settings.ringSeconds * rate), 2 * windowFrames + hopFrames)
        ring = FrameRing(channels: source.channelCount, minimumFrames: ringFrames)
        channelMajor = [Float](repeating: 0, count: source.channelCount * windowFrames)
        leadMajor = [Float](repeating: 0, count: a.leads.count * windowFrames)
        resampled = [Float](repeating: 0, count: a.leads.count * modelSamples)
        latencies = LatencyHistogram()
        thresholds = c.diseases.map { settings.thresholds[$0] ?? c.thresholds[$0]! }
        let dims = settings.metricDimensions
        let factory = metricsFactory ?? MetricsSystem.factory
        metricsScored = Counter(label: "ventriq_windows_scored", dimensions: dims, factory: factory)
        metricsDropped = Dictionary(uniqueKeysWithValues: DropReason.allCases.map {
            ($0, Counter(label: "ventriq_windows_dropped", dimensions: dims + [("reason", $0.rawValue)], factory: factory))
        })
        metricsLatency = Metrics.Timer(label: "ventriq_window_latency", dimensions: dims, factory: factory)
    }

    deinit { line.deallocate() }

    /// Asks the run to finish: the source stops, pending windows are scored, the summary is written.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        source.stop()
    }

    /// Runs until the source ends or `stop()`; returns the summary (also written as the last line).
    @discardableResult
    public func run() throws -> StreamSummary {
        let capture = Thread { [self] in captureLoop() }
        capture.name = "ventriq-capture"
        capture.start()
        var next = 0  // start frame of the next window
        while true {
            let needed = next + windowFrames
            let available = ring.waitForFrames(atLeast: needed)
            if available < needed {
                if ring.isFinished { break }
                continue
            }
            // Windows whose frames were already overwritten: dropped as backlog, oldest first.
            while next < ring.oldestFrame {
                emitDrop(start: next, reason: .backlog, detail: "the scorer fell behind the source")
                next += hopFrames
            }
            if next + windowFrames > available { continue }
            try process(start: next)
            next += hopFrames
            ring.release(upTo: next)
        }
        if let captureFailure { throw SourceError(source: source.name, problem: captureFailure) }
        summary.latencyP50Milliseconds = latencies.quantile(0.5)
        summary.latencyP99Milliseconds = latencies.quantile(0.99)
        summary.latencyMaxMilliseconds = latencies.maximum
        summary.latencyBudgetMilliseconds = settings.latencyBudgetMilliseconds
        summary.framesRead = ring.framesWritten
        summary.rssEndBytes = ProcessMemory.residentBytes()
        summary.xruns = xruns.load(ordering: .relaxed)
        summary.gaps = gaps.load(ordering: .relaxed)
        writeSummary()
        return summary
    }

    // MARK: capture thread

    private func captureLoop() {
        let chunkFrames = max(1, min(ring.capacity / 4, Int(source.sampleRateHz / 10)))
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: chunkFrames * source.channelCount)
        defer { buffer.deallocate() }
        var overrunPending = false
        while !stopRequested.load(ordering: .acquiring) {
            if !source.isPaced { ring.waitForRoom(frames: chunkFrames) }
            let chunk: SourceChunk
            do { chunk = try source.read(into: buffer, maxFrames: chunkFrames) } catch {
                captureFailure = "\(error)"
                break
            }
            switch chunk.event {
            case .overrun(let lost)?:
                xruns.wrappingIncrement(ordering: .relaxed)
                if lost > 0 { ring.writeMissing(frames: lost, flag: .overrun, time: chunk.captureTimeNanoseconds) }
                overrunPending = true
            case .gap(let frames, _)?:
                gaps.wrappingIncrement(ordering: .relaxed)
                if frames > 0 { ring.writeMissing(frames: frames, flag: .gap, time: chunk.captureTimeNanoseconds) }
            case .endOfStream?:
                ring.finish()
                return
            case nil: break
            }
            if chunk.frames > 0 {
                ring.write(UnsafeBufferPointer(buffer), frames: chunk.frames, flag: overrunPending ? .overrun : .ok,
                           time: chunk.captureTimeNanoseconds)
                overrunPending = false
            }
        }
        ring.finish()
    }

    // MARK: one window

    private func process(start: Int) throws {
        let copied = channelMajor.withUnsafeMutableBufferPointer { ring.copy(from: start, count: windowFrames, into: $0.baseAddress!) }
        guard let (flag, captured) = copied else {
            emitDrop(start: start, reason: .backlog, detail: "the scorer fell behind the source")
            return
        }
        switch flag {
        case .overrun: emitDrop(start: start, reason: .xrun, detail: "the device overran inside this window"); return
        case .gap: emitDrop(start: start, reason: .sourceGap, detail: "the source delivered no or unusable data inside this window"); return
        case .ok: break
        }
        // Index loops throughout the per-window path: unspecialised generic sequence code
        // (contains(where:), enumerated()) allocates in debug builds.
        var finite = true
        channelMajor.withUnsafeBufferPointer { values in
            for i in 0..<values.count where !values[i].isFinite { finite = false; break }
        }
        if !finite {
            emitDrop(start: start, reason: .invalidSamples, detail: "non-finite samples in this window")
            return
        }
        try channelMajor.withUnsafeBufferPointer { src in
            try leadMajor.withUnsafeMutableBufferPointer { dst in try map.apply(src, sampleCount: windowFrames, into: dst) }
        }
        if let resampler {
            let leads = scorer.config.architecture.leads.count
            try leadMajor.withUnsafeBufferPointer { src in
                try resampled.withUnsafeMutableBufferPointer { dst in
                    for lead in 0..<leads {
                        try resampler.resample(UnsafeBufferPointer(rebasing: src[(lead * windowFrames)..<((lead + 1) * windowFrames)]),
                                               into: UnsafeMutableBufferPointer(rebasing: dst[(lead * modelSamples)..<((lead + 1) * modelSamples)]))
                    }
                }
            }
            try resampled.withUnsafeBufferPointer { try scorer.scoreWindow($0) }
        } else {
            try leadMajor.withUnsafeBufferPointer { try scorer.scoreWindow($0) }
        }
        let quality = scorer.lastQuality
        var allOK = true
        for i in 0..<quality.count where quality[i].status != .ok { allOK = false }
        if settings.qualityGate && !allOK {
            emitWindow(start: start, captured: captured, gated: true)
            count(.qualityGate)
            return
        }
        emitWindow(start: start, captured: captured, gated: false)
        if summary.windowsScored == 10 { summary.rssStartBytes = ProcessMemory.residentBytes() }
        if let onWindow { try scorer.interpreter.withOutputs { onWindow(start, $0) } }
        summary.windowsScored += 1
        metricsScored.increment()
    }

    private func count(_ reason: DropReason) {
        summary.dropped[reason, default: 0] += 1
        metricsDropped[reason]!.increment()
    }

    private func emitDrop(start: Int, reason: DropReason, detail: StaticString) {
        count(reason)
        line.reset()
        line.append("{\"window\":{\"start_sample\":")
        line.append(start)
        line.append(",\"end_sample\":")
        line.append(start + windowFrames)
        line.append("},\"status\":\"dropped\",\"reason\":")
        line.appendQuoted(reason.rawValue)
        line.append(",\"detail\":\"")
        line.append(detail)
        line.append("\"}")
        line.flush(to: output)
    }

    private func emitWindow(start: Int, captured: UInt64, gated: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        let latencyMs = now > captured ? Double(now - captured) / 1e6 : 0
        if !gated {
            latencies.record(latencyMs)
            metricsLatency.recordNanoseconds(Int64(now > captured ? now - captured : 0))
            if settings.latencyBudgetMilliseconds > 0 && latencyMs > settings.latencyBudgetMilliseconds { summary.windowsOverBudget += 1 }
        }
        let c = scorer.config
        let rate = source.sampleRateHz
        line.reset()
        line.append("{\"window\":{\"start_sample\":")
        line.append(start)
        line.append(",\"end_sample\":")
        line.append(start + windowFrames)
        line.append(",\"start_s\":")
        line.append(Double(start) / rate, decimals: 3)
        line.append(",\"end_s\":")
        line.append(Double(start + windowFrames) / rate, decimals: 3)
        line.append("},\"status\":")
        line.append(gated ? "\"gated\"" : "\"scored\"")
        line.append(",\"quality\":{")
        let quality = scorer.lastQuality
        let leads = c.architecture.leads
        for i in 0..<leads.count {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            line.appendQuoted(leads[i])
            line.append(UInt8(ascii: ":"))
            line.appendQuoted(quality[i].status.rawValue)
        }
        line.append("}")
        if gated {
            line.append(",\"reason\":\"quality_gate\"}")
            line.flush(to: output)
            return
        }
        try? scorer.interpreter.withOutputs { out in
            line.append(",\"estimates\":{")
            let targets = c.targets
            for i in 0..<targets.count {
                let t = targets[i]
                if i > 0 { line.append(UInt8(ascii: ",")) }
                let v = Double(out.regression[t.index])
                let q80 = c.conformal[t.name]?["0.8"] ?? 0, q95 = c.conformal[t.name]?["0.95"] ?? 0
                line.appendQuoted(t.name)
                line.append(":{\"value\":")
                line.append(v, decimals: 3)
                line.append(",\"unit\":")
                line.appendQuoted(t.unit)
                line.append(",\"interval_80\":[")
                line.append(v - q80, decimals: 3)
                line.append(UInt8(ascii: ","))
                line.append(v + q80, decimals: 3)
                line.append("],\"interval_95\":[")
                line.append(v - q95, decimals: 3)
                line.append(UInt8(ascii: ","))
                line.append(v + q95, decimals: 3)
                line.append("]}")
            }
            line.append("},\"probabilities\":{")
            var flagged = 0
            let diseases = c.diseases
            for i in 0..<diseases.count {
                let d = diseases[i]
                if i > 0 { line.append(UInt8(ascii: ",")) }
                let p = 1 / (1 + Foundation.exp(-Double(out.logits[i])))
                if p >= thresholds[i] { flagged |= 1 << i }
                line.appendQuoted(d)
                line.append(UInt8(ascii: ":"))
                line.append(p, decimals: 6)
            }
            line.append("},\"flags\":[")
            var first = true
            for i in 0..<diseases.count where flagged & (1 << i) != 0 {
                if !first { line.append(UInt8(ascii: ",")) }
                first = false
                line.appendQuoted(diseases[i])
            }
            line.append("]")
        }
        line.append(",\"latency_ms\":")
        line.append(latencyMs, decimals: 3)
        line.append("}")
        line.flush(to: output)
    }

    private func writeSummary() {
        let s = summary
        line.reset()
        line.append("{\"summary\":{\"source\":")
        line.appendQuoted(source.name)
        line.append(",\"windows\":")
        line.append(s.windowsTotal)
        line.append(",\"scored\":")
        line.append(s.windowsScored)
        line.append(",\"dropped\":{")
        for (i, r) in DropReason.allCases.enumerated() {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            line.appendQuoted(r.rawValue)
            line.append(UInt8(ascii: ":"))
            line.append(s.dropped[r] ?? 0)
        }
        line.append("},\"xruns\":")
        line.append(s.xruns)
        line.append(",\"gaps\":")
        line.append(s.gaps)
        line.append(",\"frames\":")
        line.append(s.framesRead)
        line.append(",\"latency_ms\":{\"p50\":")
        line.append(s.latencyP50Milliseconds, decimals: 3)
        line.append(",\"p99\":")
        line.append(s.latencyP99Milliseconds, decimals: 3)
        line.append(",\"max\":")
        line.append(s.latencyMaxMilliseconds, decimals: 3)
        line.append(",\"budget\":")
        line.append(s.latencyBudgetMilliseconds, decimals: 1)
        line.append(",\"over_budget\":")
        line.append(s.windowsOverBudget)
        line.append("},\"rss_bytes\":{\"after_start\":")
        if let bytes = s.rssStartBytes { line.append(bytes) } else { line.append("null") }
        line.append(",\"end\":")
        line.append(s.rssEndBytes)
        line.append("}}}")
        line.flush(to: output)
    }
}

/// Latencies in fixed logarithmic buckets (1 % wide, 1 us to 100 s): quantiles without storing
/// every value and without allocating after init.
struct LatencyHistogram {
    private var counts: [Int]
    private(set) var maximum = 0.0
    private(set) var total = 0
    private static let lowest = 0.001  // ms
    private static let growth = 1.01
    private static let buckets = 1900  // 0.001 ms * 1.01^1900 > 100 s

    init() { counts = [Int](repeating: 0, count: Self.buckets) }

    mutating func record(_ milliseconds: Double) {
        let b = milliseconds <= Self.lowest ? 0 : min(Self.buckets - 1, Int(log(milliseconds / Self.lowest) / log(Self.growth)) + 1)
        counts[b] += 1
        total += 1
        maximum = max(maximum, milliseconds)
    }

    /// The upper edge of the bucket holding quantile q (within 1 %).
    func quantile(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let target = Int((q * Double(total)).rounded(.up))
        var seen = 0
        for (b, c) in counts.enumerated() {
            seen += c
            if seen >= max(target, 1) { return min(maximum, Self.lowest * pow(Self.growth, Double(b))) }
        }
        return maximum
    }
}
