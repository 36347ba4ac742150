/// How an int8 model was quantized: the `quantization` metadata of a `ventriq-int8` file
/// (docs/QUANTIZATION.md). The engine reads which layers run in int8 from it; the rest is the
/// record of how the scales were chosen.
public struct QuantizationInfo: Codable, Sendable, Equatable {
    /// One Linear of the encoder, or an attention core ("blocks.N.attn.core": no thresholds,
    /// its scales are dynamic).
    public struct Layer: Codable, Sendable, Equatable {
        /// Tensor prefix, e.g. "blocks.0.attn.qkv".
        public var name: String
        /// "int8" or "float32" (kept in float by the sensitivity pass or by request).
        public var precision: String
        /// Clipping threshold T of the Linear's input (scale T / 127); nil for float layers.
        public var inputThreshold: Double?
        /// Threshold of an int8 output (fc1 feeding the GELU table); nil otherwise.
        public var outputThreshold: Double?
        /// Embedding cosine distance (1 - mean cosine) on the calibration windows when only this
        /// layer is quantized; the sensitivity pass's measure.
        public var sensitivity: Double?

        public init(name: String, precision: String, inputThreshold: Double? = nil, outputThreshold: Double? = nil,
                    sensitivity: Double? = nil) {
            self.name = name
            self.precision = precision
            self.inputThreshold = inputThreshold
            self.outputThreshold = outputThreshold
            self.sensitivity = sensitivity
        }

        enum CodingKeys: String, CodingKey {
            case name, precision, inputThreshold = "input_threshold", outputThreshold = "output_threshold", sensitivity
        }
    }

    /// "ventriq-int8-v1": the scheme of docs/QUANTIZATION.md.
    public var scheme: String
    /// Activation calibration: "minmax", "percentile", "entropy" or "mse".
    public var activationMethod: String
    /// The percentile for "percentile" (e.g. 99.99).
    public var percentile: Double?
    public var layers: [Layer]

    public static let schemeName = "ventriq-int8-v1"

    public init(scheme: String = QuantizationInfo.schemeName, activationMethod: String, percentile: Double?, layers: [Layer]) {
        self.scheme = scheme
        self.activationMethod = activationMethod
        self.percentile = percentile
        self.layers = layers
    }

    /// The layers that run in int8 (Linears and attention cores).
    public var int8Layers: Set<String> { Set(layers.filter { $0.precision == "int8" }.map(\.name)) }

    enum CodingKeys: String, CodingKey {
        case scheme, activationMethod = "activation_method", percentile, layers
    }
}
