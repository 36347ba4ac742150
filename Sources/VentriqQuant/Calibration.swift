import Crypto
import Foundation
import Ventriq

/// Preprocessed windows the quantizer calibrates on: leads x samples, lead-major, each window
/// exactly what the engine's input sees.
public struct CalibrationSet: Sendable {
    public var windows: [[Float]]
    /// Where they came from (a file or a directory of recordings).
    public var source: String
    /// SHA-256 (hex) of the windows' float32 bytes in order: identifies the set in the model's metadata.
    public var sha256: String {
        var hasher = SHA256()
        for w in windows { w.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public init(windows: [[Float]], source: String) {
        self.windows = windows
        self.source = source
    }

    /// `calibration.safetensors` from the trainer's export (`windows`: [N, leads, samples] F32,
    /// already preprocessed), or a directory of recordings (WFDB/CSV/NPY) cut into windows and
    /// run through the model's own conditioning.
    public static func load(_ url: URL, model: Model, readOptions: ReadOptions = ReadOptions(), limit: Int? = nil) throws -> CalibrationSet {
        let a = model.config.architecture
        let per = a.leads.count * a.windowSamples
        var windows: [[Float]] = []
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw QuantizeError.calibration("\(url.path): no such file or directory")
        }
        if isDirectory.boolValue {
            let scorer = try Scorer(model: model)
            for recording in try RecordingReader.recordings(in: url) {
                let (signal, count, _) = try scorer.modelSignal(RecordingReader.read(recording, options: readOptions))
                for k in 0..<(count / a.windowSamples) {
                    try scorer.scoreWindow(signal, sampleCount: count, start: k * a.windowSamples)
                    windows.append(try scorer.interpreter.withInput { Array($0) })
                    if let limit, windows.count >= limit { break }
                }
                if let limit, windows.count >= limit { break }
            }
        } else {
            let file = try SafeTensorsFile(contentsOf: url)
            let info = try file.info("windows")
            guard info.shape.count == 3, info.shape[1] == a.leads.count, info.shape[2] == a.windowSamples else {
                throw QuantizeError.calibration("\(url.path): tensor 'windows' has shape \(info.shape); the model needs [N, \(a.leads.count), \(a.windowSamples)]")
            }
            let values = try file.floats("windows")
            let n = min(info.shape[0], limit ?? Int.max)
            for i in 0..<n { windows.append(Array(values[(i * per)..<((i + 1) * per)])) }
        }
        guard !windows.isEmpty else { throw QuantizeError.calibration("\(url.path): no calibration windows") }
        for (i, w) in windows.enumerated() {
            if let j = w.firstIndex(where: { !$0.isFinite }) {
                throw QuantizeError.calibration("\(url.path): calibration window \(i) holds a non-finite value (\(w[j])) at lead \(j / a.windowSamples), sample \(j % a.windowSamples)")
            }
        }
        return CalibrationSet(windows: windows, source: url.path)
    }
}

/// What calibration measured about one activation of the float model.
public struct ActivationStatistics: Sendable {
    public var absMax: Double
    public var histogram: AbsoluteHistogram
}

/// Runs the float model over the calibration windows and records, for every Linear, the
/// statistics of its input and (for fc1) of its output before GELU. Two passes: the first finds
/// each activation's max |x|, the second fills a 2048-bin histogram over [0, max].
public enum ActivationCalibrator {
    /// Keys: "<linear>.input" for every Linear, "<fc1>.output" for each block's fc1.
    public static func collect(_ interpreter: Interpreter, windows: [[Float]]) throws -> [String: ActivationStatistics] {
        let graph = interpreter.graph
        // For each step: which tensors to read before and after it, under which key.
        var before: [Int: [(String, Int)]] = [:], after: [Int: [(String, Int)]] = [:]
        for (step, op) in graph.ops.enumerated() {
            guard case .linear(let input, let w, _, let output) = op else { continue }
            let prefix = String(graph.weights[w].name.dropLast(".weight".count))
            if prefix.hasPrefix("head.") { continue }
            before[step, default: []].append(("\(prefix).input", input))
            if prefix.hasSuffix(".mlp.fc1") { after[step, default: []].append(("\(prefix).output", output)) }
        }
        var absMax: [String: Double] = [:]
        var histograms: [String: AbsoluteHistogram] = [:]
        for pass in 0..<2 {
            for window in windows {
                try window.withUnsafeBufferPointer { src in try interpreter.withInput { _ = $0.update(fromContentsOf: src) } }
                try interpreter.invoke { step, isBefore in
                    for (key, tensor) in (isBefore ? before[step] : after[step]) ?? [] {
                        try interpreter.withTensor(tensor) { view in
                            if pass == 0 {
                                var m = absMax[key] ?? 0
                                for v in view { m = max(m, Double(abs(v))) }
                                absMax[key] = m
                            } else {
                                histograms[key, default: AbsoluteHistogram(range: absMax[key] ?? 1)].add(view)
                            }
                        }
                    }
                }
            }
        }
        var result: [String: ActivationStatistics] = [:]
        for (key, m) in absMax {
            result[key] = ActivationStatistics(absMax: m, histogram: histograms[key] ?? AbsoluteHistogram(range: m))
        }
        return result
    }
}

/// Everything that stops the quantizer, with what to fix.
public enum QuantizeError: Error, CustomStringConvertible, Equatable {
    case calibration(String)
    case heldout(String)
    case model(String)
    case usage(String)
    case gateFailed(String)

    public var description: String {
        switch self {
        case .calibration(let m): return "calibration set: \(m)"
        case .heldout(let m): return "held-out set: \(m)"
        case .model(let m): return "model: \(m)"
        case .usage(let m): return m
        case .gateFailed(let m): return "accuracy gate failed: \(m)"
        }
    }
}
