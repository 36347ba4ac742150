import Foundation
import Ventriq

/// Settings of one quantization run (the quantizer's flags).
public struct QuantizeOptions: Sendable {
    public var method: CalibrationMethod = .entropy
    /// Layers (Linears or attention cores) kept in float32 from the start (e.g. by request).
    public var keepFloat: Set<String> = []
    /// How many layers the mixed-precision loop may move to float32 before giving up.
    public var maxFloatLayers: Int = 4
    public var gate = AccuracyGate()
    /// Calibration windows used by the sensitivity pass.
    public var sensitivityWindows: Int = 32

    public init() {}
}

/// The result of a run: the model's tensors and metadata (accuracy included, not yet signed),
/// and what was decided on the way.
public struct QuantizeOutcome {
    public var writer: SafeTensorsWriter
    public var report: AccuracyReport
    public var int8Layers: [String]
    public var floatLayers: [String]
    /// 1 - mean embedding cosine with only that layer in int8, on the calibration windows.
    public var sensitivity: [String: Double]
    /// Empty when the gate passed.
    public var violations: [String]
}

/// Float checkpoint -> int8 model: calibration, sensitivity, the mixed-precision loop and the
/// accuracy report (docs/QUANTIZATION.md).
public enum Quantizer {
    public static func run(source: Model, calibration: CalibrationSet, heldout: HeldoutSet, options: QuantizeOptions,
                           progress: (String) -> Void = { _ in }) throws -> QuantizeOutcome {
        guard source.precision == .float32 else { throw QuantizeError.model("\(source.url.path) is already an int8 model") }
        let all = Int8ModelBuilder.layers(source.config)
        if let unknown = options.keepFloat.first(where: { !all.contains($0) }) {
            throw QuantizeError.usage("--keep-float \(unknown): not a layer of this model (\(all.joined(separator: ", ")))")
        }
        guard calibration.windows.count >= 8 else {
            throw QuantizeError.calibration("\(calibration.source): \(calibration.windows.count) windows; at least 8 are needed for stable scales")
        }
        let float = try Interpreter.prepared(model: source)
        progress("calibrating \(options.method.name) on \(calibration.windows.count) windows")
        let statistics = try ActivationCalibrator.collect(float, windows: calibration.windows)
        let builder = Int8ModelBuilder(source: source, statistics: statistics, method: options.method)

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ventriq-quantize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        func materialise(_ layers: Set<String>, _ name: String, sensitivity: [String: Double] = [:]) throws -> (SafeTensorsWriter, Model) {
            let writer = try builder.build(int8: layers, calibration: calibration, sensitivity: sensitivity)
            let url = scratch.appendingPathComponent("\(name).safetensors")
            try writer.write(to: url)
            return (writer, try Model(contentsOf: url))
        }

        // Sensitivity: each layer (Linear or attention core) alone in int8, embedding cosine against
        // float. Only the mixed-precision loop uses it: with --max-float-layers 0 it is skipped
        // (one model build and evaluation per layer: minutes on large models).
        var sensitivity: [String: Double] = [:]
        if options.maxFloatLayers == 0 {
            progress("sensitivity pass skipped (--max-float-layers 0)")
        } else {
            let probe = Array(calibration.windows.prefix(options.sensitivityWindows))
            let reference = try embeddings(float, probe)
            for layer in all where !options.keepFloat.contains(layer) {
                let (_, model) = try materialise([layer], "probe")
                let e = try embeddings(Interpreter.prepared(model: model), probe)
                let cosines = zip(reference, e).map { AccuracyReport.cosine($0, $1) }
                sensitivity[layer] = 1 - cosines.reduce(0, +) / Double(cosines.count)
            }
            progress("sensitivity (1 - cosine, one layer in int8): "
                     + all.compactMap { l in sensitivity[l].map { "\(l) \(String(format: "%.2e", $0))" } }.joined(separator: ", "))
        }

        var int8 = Set(all).subtracting(options.keepFloat)
        while true {
            let (writer, model) = try materialise(int8, "candidate", sensitivity: sensitivity)
            progress("evaluating \(int8.count) int8 layers on \(heldout.recordings.count) held-out recordings")
            let report = try AccuracyReport.evaluate(float: source, int8: model, on: heldout)
            let violations = report.violations(options.gate)
            let floatLayers = all.filter { !int8.contains($0) }
            let movable = int8.filter { sensitivity[$0] != nil }.sorted { sensitivity[$0]! > sensitivity[$1]! }
            if violations.isEmpty || floatLayers.count - options.keepFloat.count >= options.maxFloatLayers || movable.isEmpty {
                var final = writer
                final.metadata["accuracy"] = try Int8ModelBuilder.json(report)
                return QuantizeOutcome(writer: final, report: report, int8Layers: all.filter { int8.contains($0) },
                                       floatLayers: floatLayers, sensitivity: sensitivity, violations: violations)
            }
            progress("gate: \(violations.joined(separator: "; ")); keeping \(movable[0]) in float32")
            int8.remove(movable[0])
        }
    }

    /// The embedding of each window (allocates; calibration-time only).
    static func embeddings(_ interpreter: Interpreter, _ windows: [[Float]]) throws -> [[Float]] {
        try windows.map { w in
            try w.withUnsafeBufferPointer { try interpreter.invoke($0) }
            return try interpreter.withOutputs { Array($0.embedding) }
        }
    }
}

extension AccuracyReport {
    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        b.withUnsafeBufferPointer { cosine(a, $0) }
    }
}
