import CVentriqKernels
import Foundation
import Ventriq

/// Builds the tensors and metadata of a `ventriq-int8` model from a float model and calibration
/// statistics, following docs/QUANTIZATION.md to the letter.
public struct Int8ModelBuilder {
    public let source: Model
    public let statistics: [String: ActivationStatistics]
    public let method: CalibrationMethod

    public init(source: Model, statistics: [String: ActivationStatistics], method: CalibrationMethod) {
        self.source = source
        self.statistics = statistics
        self.method = method
    }

    /// The encoder's Linears in graph order.
    public static func linears(_ config: ModelConfig) -> [String] {
        var names = ["patch_embed.proj"]
        for b in 0..<config.architecture.depth {
            names += ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"].map { "blocks.\(b).\($0)" }
        }
        return names
    }

    /// The attention cores ("blocks.N.attn.core": Q.K^T, softmax, P.V), one per block.
    public static func attentionCores(_ config: ModelConfig) -> [String] {
        (0..<config.architecture.depth).map { "blocks.\($0).attn.core" }
    }

    /// Every layer the quantizer may run in int8, in graph order: the Linears and, after each
    /// block's qkv, its attention core (quantized at run time with dynamic scales, so it has no
    /// tensors; docs/QUANTIZATION.md).
    public static func layers(_ config: ModelConfig) -> [String] {
        linears(config).flatMap { name -> [String] in
            name.hasSuffix(".attn.qkv") ? [name, String(name.dropLast(".qkv".count)) + ".core"] : [name]
        }
    }

    /// Clipping threshold of an activation ("<linear>.input" or "<fc1>.output").
    public func threshold(_ key: String) throws -> Double {
        guard let s = statistics[key] else { throw QuantizeError.calibration("no statistics for activation \(key)") }
        let t = method.threshold(s.histogram, absMax: s.absMax)
        guard t.isFinite, t > 0 else {
            throw QuantizeError.calibration("activation \(key) is zero on every calibration window (threshold \(t)): the set is too small or degenerate")
        }
        return t
    }

    /// A writer holding every tensor of the int8 model with the layers in `int8` quantized
    /// (Linears and attention cores), and the metadata except accuracy and signature.
    public func build(int8 layers: Set<String>, calibration: CalibrationSet, sensitivity: [String: Double] = [:]) throws -> SafeTensorsWriter {
        let file = source.file
        let config = source.config
        var writer = SafeTensorsWriter()
        var handled = Set<String>()
        var layerInfo: [QuantizationInfo.Layer] = []
        let all = Self.layers(config)
        for name in all {
            if name.hasSuffix(".attn.core") {
                layerInfo.append(.init(name: name, precision: layers.contains(name) ? "int8" : "float32",
                                       sensitivity: sensitivity[name]))
                continue
            }
            let weightName = "\(name).weight", biasName = "\(name).bias"
            handled.formUnion([weightName, biasName])
            guard layers.contains(name) else {
                try writer.add(weightName, shape: file.info(weightName).shape, floats: file.floats(weightName))
                try writer.add(biasName, shape: file.info(biasName).shape, floats: file.floats(biasName))
                layerInfo.append(.init(name: name, precision: "float32", sensitivity: sensitivity[name]))
                continue
            }
            let info = try file.info(weightName)
            let n = info.shape[0], k = info.elementCount / n
            let w = try file.floats(weightName)
            let b = try file.floats(biasName)
            let tIn = try threshold("\(name).input")
            // The float32 scale the engine quantizes with is the one every derived value uses.
            let sx = Double(Float(tIn / 127))
            // Per output channel, symmetric, [-127, 127].
            var wq = [Int8](repeating: 0, count: n * k)
            var sw = [Double](repeating: 1, count: n)
            for r in 0..<n {
                var m = 0.0
                for c in 0..<k { m = max(m, Double(abs(w[r * k + c]))) }
                sw[r] = m > 0 ? m / 127 : 1
                for c in 0..<k { wq[r * k + c] = Int8(max(-127, min(127, (Double(w[r * k + c]) / sw[r]).rounded(.toNearestOrEven)))) }
            }
            let bq = (0..<n).map { r -> Int32 in
                let v = (Double(b[r]) / (sx * sw[r])).rounded(.toNearestOrEven)
                return Int32(max(Double(Int32.min), min(Double(Int32.max), v)))
            }
            try writer.add(weightName, shape: [n, k], int8s: wq)
            try writer.add("\(name).weight_scale", shape: [n], floats: sw.map { Float($0) })
            try writer.add(biasName, shape: [n], int32s: bq)
            try writer.add("\(name).input_scale", shape: [1], floats: [Float(sx)])
            var layer = QuantizationInfo.Layer(name: name, precision: "int8", inputThreshold: tIn, sensitivity: sensitivity[name])
            let block = name.hasSuffix(".mlp.fc1") ? String(name.dropLast(".mlp.fc1".count)) : nil
            if let block, layers.contains("\(block).mlp.fc2") {
                // fc1 -> int8 -> GELU table -> int8 -> fc2.
                let tOut = try threshold("\(name).output")
                let sy = Double(Float(tOut / 127))
                var multipliers = [Int32](repeating: 0, count: n), shifts = [Int32](repeating: 0, count: n)
                for r in 0..<n { vq_quantize_multiplier(sx * sw[r] / sy, &multipliers[r], &shifts[r]) }
                try writer.add("\(name).requant_multiplier", shape: [n], int32s: multipliers)
                try writer.add("\(name).requant_shift", shape: [n], int32s: shifts)
                try writer.add("\(name).output_activation_scale", shape: [1], floats: [Float(sy)])
                let sg = Double(Float(try threshold("\(block).mlp.fc2.input") / 127))
                try writer.add("\(block).mlp.act.lut", shape: [256], int8s: Self.geluTable(inputScale: sy, outputScale: sg))
                try writer.add("\(block).mlp.act.output_scale", shape: [1], floats: [Float(sg)])
                layer.outputThreshold = tOut
            } else {
                try writer.add("\(name).output_scale", shape: [n], floats: (0..<n).map { Float(sx * sw[$0]) })
            }
            layerInfo.append(layer)
        }
        // Everything else (positional embedding, norms, heads) as float32.
        for t in file.tensors where !handled.contains(t.name) {
            try writer.add(t.name, shape: t.shape, floats: file.floats(t.name))
        }
        let quantization = QuantizationInfo(activationMethod: method.name, percentile: method.percentileValue, layers: layerInfo)
        writer.metadata = [
            "format": Model.int8Format,
            "format_version": Model.supportedFormatVersion,
            "config": source.configJSON,
            "quantization": try Self.json(quantization),
            "calibration": try Self.json(["source": calibration.source, "windows": String(calibration.windows.count),
                                          "sha256": calibration.sha256, "method": method.name]),
            "source_sha256": source.sha256,
            "tool": try Self.json(["name": "ventriq-quantize", "version": QuantizerVersion.string]),
        ]
        return writer
    }

    /// lut[i] = clamp(round_half_even(gelu((i - 128) * s_h) / s_g), -127, 127), exact-erf GELU in float64.
    public static func geluTable(inputScale sh: Double, outputScale sg: Double) -> [Int8] {
        (0..<256).map { i in
            let x = Double(i - 128) * sh
            let g = 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
            return Int8(max(-127, min(127, (g / sg).rounded(.toNearestOrEven))))
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // An AUROC without positives in the held-out set is NaN: written as the string "nan".
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

public enum QuantizerVersion {
    public static let string = "0.2.0"  // 0.2.0: attention cores as int8 layers
}
