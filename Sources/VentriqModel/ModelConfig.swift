import Foundation
import VentriqSignal

/// A model's configuration: the `config` JSON in the file's safetensors `__metadata__`, written by
/// the trainer (`ventriq_training.export`). It is the single source of truth for the
/// architecture, the preprocessing, the window, the targets and their units, the diseases, the
/// risk thresholds and the interval quantiles; the runtime hard-codes none of them.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// The encoder's shape (a ViT over per-lead patches, timm tensor names).
    public struct Architecture: Codable, Sendable, Equatable {
        public var name: String
        /// Lead order of the model's input rows.
        public var leads: [String]
        public var windowSamples: Int
        public var fsHz: Double
        public var patchSize: Int
        public var embedDim: Int
        public var depth: Int
        public var numHeads: Int
        public var mlpRatio: Double
        public var qkvBias: Bool
        public var normEps: Double
        /// "avg": mean of the patch tokens, then `fc_norm`.
        public var globalPool: String
        public var nTokens: Int
        public var macsPerWindow: Int

        /// Width of the MLP's hidden layer (`int(embed_dim * mlp_ratio)`, as the trainer computes it).
        public var mlpHidden: Int { Int(Double(embedDim) * mlpRatio) }
        public var headDim: Int { embedDim / numHeads }
        public var patchesPerLead: Int { windowSamples / patchSize }

        enum CodingKeys: String, CodingKey {
            case name, leads, windowSamples = "window_samples", fsHz = "fs_hz", patchSize = "patch_size"
            case embedDim = "embed_dim", depth, numHeads = "num_heads", mlpRatio = "mlp_ratio"
            case qkvBias = "qkv_bias", normEps = "norm_eps", globalPool = "global_pool"
            case nTokens = "n_tokens", macsPerWindow = "macs_per_window"
        }
    }

    /// How a recording is cut into windows and how window outputs are combined.
    public struct Window: Codable, Sendable, Equatable {
        public var samples: Int
        public var fsHz: Double
        public var seconds: Double
        public var leads: [String]
        /// Units of the raw input the preprocessing expects ("mV").
        public var units: String
        public var preprocessPerWindow: Bool
        public var recordingAggregation: String

        enum CodingKeys: String, CodingKey {
            case samples, fsHz = "fs_hz", seconds, leads, units
            case preprocessPerWindow = "preprocess_per_window", recordingAggregation = "recording_aggregation"
        }
    }

    /// One regression output: its name, unit and row in `head.regression`.
    public struct Target: Codable, Sendable, Equatable {
        public var name: String
        public var unit: String
        public var index: Int
    }

    public var formatVersion: Int
    public var modelVersion: String
    public var name: String
    public var studyModel: String?
    public var architecture: Architecture
    public var preprocessing: ConditioningSpec
    public var window: Window
    public var targets: [Target]
    /// Disease names in the order of `head.classification`'s rows.
    public var diseases: [String]
    /// Probability at or above which a disease's risk flag is raised.
    public var thresholds: [String: Double]
    public var thresholdRule: String
    /// Split-conformal half-widths per target and coverage level ("0.8", "0.95"):
    /// interval = estimate +- q.
    public var conformal: [String: [String: Double]]
    public var conformalRule: String?

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", modelVersion = "model_version", name
        case studyModel = "study_model", architecture, preprocessing, window, targets, diseases
        case thresholds, thresholdRule = "threshold_rule", conformal, conformalRule = "conformal_rule"
    }
}

extension ModelConfig {
    /// Decodes the config JSON and checks that its parts agree with each other (window vs
    /// architecture, targets vs conformal quantiles, diseases vs thresholds). Every failure names
    /// the field.
    public static func decode(json: String, file: String) throws -> ModelConfig {
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        } catch let error as DecodingError {
            throw ModelConfigError(file: file, field: error.fieldPath, problem: error.problem)
        }
        try config.validate(file: file)
        return config
    }

    func validate(file: String) throws {
        func fail(_ field: String, _ problem: String) -> ModelConfigError {
            ModelConfigError(file: file, field: field, problem: problem)
        }
        let a = architecture
        guard formatVersion == 1 else { throw fail("format_version", "expected 1, found \(formatVersion)") }
        guard a.embedDim > 0, a.depth > 0, a.numHeads > 0, a.embedDim % a.numHeads == 0 else {
            throw fail("architecture", "embed_dim \(a.embedDim) must be a positive multiple of num_heads \(a.numHeads) and depth \(a.depth) positive")
        }
        guard a.patchSize > 0, a.windowSamples % a.patchSize == 0 else {
            throw fail("architecture.patch_size", "\(a.patchSize) must divide window_samples \(a.windowSamples)")
        }
        guard a.nTokens == a.leads.count * a.patchesPerLead else {
            throw fail("architecture.n_tokens", "\(a.nTokens) != leads (\(a.leads.count)) x window_samples / patch_size (\(a.patchesPerLead))")
        }
        guard a.globalPool == "avg" else { throw fail("architecture.global_pool", "only \"avg\" is supported, found \"\(a.globalPool)\"") }
        guard window.samples == a.windowSamples, window.fsHz == a.fsHz, window.leads == a.leads else {
            throw fail("window", "samples, fs_hz and leads must equal the architecture's (\(a.windowSamples), \(a.fsHz), \(a.leads))")
        }
        guard preprocessing.settings.fsHz == a.fsHz else {
            throw fail("preprocessing.config.fs_hz", "\(preprocessing.settings.fsHz) differs from the architecture's \(a.fsHz) Hz")
        }
        guard window.preprocessPerWindow else {
            throw fail("window.preprocess_per_window", "only per-window preprocessing is supported")
        }
        for (k, t) in targets.enumerated() {
            guard t.index == k else { throw fail("targets[\(k)].index", "expected \(k), found \(t.index)") }
            for level in ["0.8", "0.95"] where conformal[t.name]?[level] == nil {
                throw fail("conformal.\(t.name).\(level)", "missing interval quantile")
            }
        }
        for d in diseases where thresholds[d] == nil {
            throw fail("thresholds.\(d)", "missing threshold for disease \(d)")
        }
    }
}

/// A model config that cannot be used: names the file, the field and what was wrong.
public struct ModelConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var field: String
    public var problem: String
    public var description: String { "\(file): model config field '\(field)': \(problem)" }
}

extension DecodingError {
    fileprivate var fieldPath: String {
        let path: [CodingKey]
        switch self {
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        @unknown default: path = []
        }
        let field = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return field.isEmpty ? "config" : field.replacingOccurrences(of: ".[", with: "[")
    }

    fileprivate var problem: String {
        switch self {
        case .keyNotFound: return "missing"
        case .typeMismatch(let type, _): return "expected a value of type \(type)"
        case .valueNotFound(let type, _): return "expected a value of type \(type), found null"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "cannot be decoded"
        }
    }
}
