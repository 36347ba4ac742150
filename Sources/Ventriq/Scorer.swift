import Foundation
import VentriqEngine
import VentriqIO
import VentriqModel
import VentriqSignal

/// Scores whole recordings with one model: the runtime's batch pipeline.
///
///     Recording (any rate, any channel order, mV)
///       -> LeadMap: the model's 12 leads in its order (III, aVR, aVL, aVF derived from I and II
///          when absent)
///       -> Resampler: to the model's rate when the recording's differs
///       -> consecutive, non-overlapping windows of the model's length from the first sample (the
///          tail shorter than a window is not scored)
///       -> per window: LeadQuality on the raw millivolts, WindowConditioner (the trainer's
///          preprocessing, per window) straight into the interpreter's input, Interpreter.invoke
///       -> the recording's result: the mean of the windows' regression outputs and of their
///          sigmoid probabilities (the model's `recording_aggregation`), intervals from the
///          model's conformal quantiles, flags from its thresholds.
///
/// Final class, not thread-safe (it owns an interpreter, its arena and any worker threads): one
/// scorer per thread.
/// Memory for one window is allocated at init; per recording, the lead-mapped and resampled
/// signal is allocated once; per window nothing is allocated.
public final class Scorer {
    public let model: Model
    public let interpreter: Interpreter
    public let conditioner: WindowConditioner
    public var qualityThresholds: LeadQuality.Thresholds
    private var rawWindow: [Float]
    private var quality: [LeadQuality]
    /// Lead quality of the last window scored, in the model's lead order.
    public var lastQuality: [LeadQuality] { quality }

    public var config: ModelConfig { model.config }

    /// - Parameters:
    ///   - kernels: which kernels the engine binds (the CPU's widest by default).
    ///   - threads: the engine's threads per window (`Interpreter.init(threads:)`): 1 by default;
    ///     more start worker threads once, here, and give the same results.
    public init(model: Model, qualityThresholds: LeadQuality.Thresholds = .default, kernels: KernelChoice = .automatic,
                threads: Int = 1) throws {
        self.model = model
        self.qualityThresholds = qualityThresholds
        let a = model.config.architecture
        interpreter = try Interpreter.prepared(model: model, kernels: kernels, threads: threads)
        conditioner = try WindowConditioner(spec: model.config.preprocessing, leadCount: a.leads.count, sampleCount: a.windowSamples)
        rawWindow = [Float](repeating: 0, count: a.leads.count * a.windowSamples)
        quality = [LeadQuality](repeating: LeadQuality(status: .ok, peakToPeakMV: 0, standardDeviationMV: 0, maximumAbsoluteMV: 0, pinnedFraction: 0, noiseRatio: 0), count: a.leads.count)
    }

    /// Reads and scores one file (WFDB, CSV or NPY).
    public func score(contentsOf url: URL, options: ReadOptions) throws -> ScoreResult {
        try score(RecordingReader.read(url, options: options))
    }

    /// The recording's signal as the model's leads at the model's rate, lead-major.
    public func modelSignal(_ recording: Recording) throws -> (signal: [Float], sampleCount: Int, map: LeadMap) {
        let a = config.architecture
        let source = recording.source
        func fail(_ problem: String) -> ScoreError { ScoreError(source: source, problem: problem) }
        guard recording.sampleCount > 0, recording.channels.allSatisfy({ $0.samples.count == recording.sampleCount }) else {
            throw fail("recording has no samples, or channels of different lengths")
        }
        let map: LeadMap
        do { map = try LeadMap(channelNames: recording.channels.map(\.name), modelLeads: a.leads) } catch { throw fail(error.description) }

        // Non-finite samples are refused up front, named by channel and time in the file.
        for channel in recording.channels {
            if let i = channel.samples.firstIndex(where: { !$0.isFinite }) {
                throw fail("channel \(channel.name) has a non-finite value (\(channel.samples[i])) at sample \(i) "
                    + "(\(String(format: "%.3f", Double(i) / recording.samplingRateHz)) s)")
            }
        }
        let n = recording.sampleCount
        var channelMajor = [Float]()
        channelMajor.reserveCapacity(recording.channels.count * n)
        for channel in recording.channels { channelMajor += channel.samples }
        var leads: [Float]
        do { leads = try map.apply(channelMajor, sampleCount: n) } catch { throw fail(error.description) }
        guard recording.samplingRateHz != a.fsHz else { return (leads, n, map) }
        do {
            let resampler = try Resampler(fromHz: recording.samplingRateHz, toHz: a.fsHz)
            leads = try resampler.resample(leads: leads, leadCount: a.leads.count)
            return (leads, leads.count / a.leads.count, map)
        } catch { throw fail(error.description) }
    }

    /// Scores a recording already in memory.
    /// - Parameter windowObserver: called with each window's index and outputs (embedding,
    ///   regression, logits, probabilities) before they are aggregated; for evaluation tools.
    public func score(_ recording: Recording, windowObserver: ((Int, InterpreterOutputs) throws -> Void)? = nil) throws -> ScoreResult {
        let a = config.architecture
        let (signal, count, map) = try modelSignal(recording)
        let leadCount = a.leads.count, w = a.windowSamples
        let windows = count / w
        guard windows >= 1 else {
            throw ScoreError(source: recording.source, problem: "recording is shorter than one window: "
                + "\(recording.sampleCount) samples at \(recording.samplingRateHz) Hz "
                + "(\(String(format: "%.2f", recording.durationSeconds)) s); the model needs \(w) samples at \(a.fsHz) Hz "
                + "(\(String(format: "%.2f", Double(w) / a.fsHz)) s)")
        }
        var regressionSum = [Double](repeating: 0, count: config.targets.count)
        var probabilitySum = [Double](repeating: 0, count: config.diseases.count)
        var problems = [[LeadQuality.Status: Int]](repeating: [:], count: leadCount)
        for k in 0..<windows {
            try scoreWindow(signal, sampleCount: count, start: k * w)
            for lead in 0..<leadCount where quality[lead].status != .ok { problems[lead][quality[lead].status, default: 0] += 1 }
            try interpreter.withOutputs { out in
                for i in regressionSum.indices { regressionSum[i] += Double(out.regression[i]) }
                // As the reference scorer: sigmoid in double of the float32 logits, then the mean.
                for i in probabilitySum.indices { probabilitySum[i] += Self.probability(logit: out.logits[i]) }
                try windowObserver?(k, out)
            }
        }
        return result(for: recording, map: map, windows: windows, samples: count,
                      regression: regressionSum.map { $0 / Double(windows) },
                      probabilities: probabilitySum.map { $0 / Double(windows) }, problems: problems)
    }

    /// Quality check, conditioning and inference of the window at `start` of a lead-major signal
    /// (`modelSignal`'s layout, `sampleCount` samples per lead). Allocates nothing. Afterwards the
    /// window's outputs are in `interpreter.withOutputs` and its lead quality in `lastQuality`.
    public func scoreWindow(_ signal: [Float], sampleCount: Int, start: Int) throws {
        let leadCount = config.architecture.leads.count, w = config.architecture.windowSamples
        signal.withUnsafeBufferPointer { s in
            rawWindow.withUnsafeMutableBufferPointer { raw in
                for lead in 0..<leadCount {
                    let from = s.baseAddress! + lead * sampleCount + start
                    (raw.baseAddress! + lead * w).update(from: from, count: w)
                }
            }
        }
        try rawWindow.withUnsafeBufferPointer { try scoreWindow($0) }
    }

    /// Quality check, conditioning and inference of one raw window already laid out as the
    /// model's leads x samples (lead-major, millivolts): what streams call, without another copy.
    /// Allocates nothing.
    public func scoreWindow(_ raw: UnsafeBufferPointer<Float>) throws {
        let leadCount = config.architecture.leads.count
        try quality.withUnsafeMutableBufferPointer { q in
            try LeadQuality.assess(window: raw, leadCount: leadCount, into: q, thresholds: qualityThresholds)
        }
        try interpreter.withInput { input in try conditioner.condition(raw, into: input) }
        try interpreter.invoke()
    }

    /// A disease probability from its float32 logit: the sigmoid in double, as the reference
    /// scorer computes it (`score` averages these over a recording's windows).
    @inline(__always)
    public static func probability(logit: Float) -> Double { 1 / (1 + Foundation.exp(-Double(logit))) }

    /// The estimates, with the model's conformal intervals, of regression outputs in the head's
    /// order (`config.targets[i].index`): one window's, or the mean of a recording's.
    public func estimates(regression: [Double]) -> [ScoreResult.Estimate] {
        let c = config
        return c.targets.map { t -> ScoreResult.Estimate in
            let v = regression[t.index]
            let q80 = c.conformal[t.name]!["0.8"]!, q95 = c.conformal[t.name]!["0.95"]!
            return .init(name: t.name, unit: t.unit, value: v, interval80: [v - q80, v + q80], interval95: [v - q95, v + q95])
        }
    }

    /// The risks of disease probabilities in `config.diseases` order, flagged at the model's
    /// thresholds: one window's, or the mean of a recording's.
    public func risks(probabilities: [Double]) -> [ScoreResult.Risk] {
        let c = config
        return c.diseases.enumerated().map { k, d -> ScoreResult.Risk in
            let threshold = c.thresholds[d]!
            return .init(name: d, probability: probabilities[k], threshold: threshold, flagged: probabilities[k] >= threshold)
        }
    }

    /// One window's estimates and risks from its outputs (`interpreter.withOutputs`, or the
    /// `windowObserver` of `score`): what `score` reports for a recording of just that window.
    /// Allocates the small result arrays; the allocation-free path reads `outputs` directly.
    public func windowResult(_ outputs: InterpreterOutputs) -> (estimates: [ScoreResult.Estimate], risks: [ScoreResult.Risk]) {
        (estimates(regression: outputs.regression.map(Double.init)),
         risks(probabilities: outputs.logits.map(Self.probability(logit:))))
    }

    private func result(for recording: Recording, map: LeadMap, windows: Int, samples: Int, regression: [Double],
                        probabilities: [Double], problems: [[LeadQuality.Status: Int]]) -> ScoreResult {
        let c = config, a = c.architecture
        let estimates = estimates(regression: regression)
        let risks = risks(probabilities: probabilities)
        let derived = Set(map.derivedLeads)
        let severity: [LeadQuality.Status] = [.flat, .saturated, .noisy]
        let quality = a.leads.enumerated().map { i, lead -> ScoreResult.LeadQualityReport in
            let counts = problems[i]
            let worst = counts.max { ($0.value, -(severity.firstIndex(of: $0.key) ?? 0)) < ($1.value, -(severity.firstIndex(of: $1.key) ?? 0)) }
            return .init(lead: lead, status: worst?.key.rawValue ?? "ok", windowsWithProblems: counts.values.reduce(0, +),
                         derived: derived.contains(lead))
        }
        let used = windows * a.windowSamples
        return ScoreResult(
            record: recording.name, source: recording.source,
            model: .init(name: c.name, version: c.modelVersion, precision: model.precision.rawValue, sha256: model.sha256),
            estimates: estimates, risks: risks, flags: risks.filter(\.flagged).map(\.name), quality: quality,
            windows: .init(count: windows, samplesPerWindow: a.windowSamples, seconds: Double(a.windowSamples) / a.fsHz,
                           samplesUsed: used, samplesUnused: samples - used, inputRateHz: recording.samplingRateHz,
                           modelRateHz: a.fsHz, resampled: recording.samplingRateHz != a.fsHz,
                           aggregation: c.window.recordingAggregation))
    }
}

/// A recording that could not be scored: the file and what was wrong.
public struct ScoreError: Error, Equatable, CustomStringConvertible {
    public var source: String
    public var problem: String
    public var description: String { "\(source): \(problem)" }
}
