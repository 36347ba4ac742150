/// Everything `ventriq score` says about one recording: a value type, encodable as one JSON line
/// or one CSV row (`ResultWriter`).
public struct ScoreResult: Codable, Sendable, Equatable {
    /// The model that produced the result, so a stored line can be traced to its weights.
    public struct ModelIdentity: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// "float32" or "int8".
        public var precision: String
        public var sha256: String
    }

    /// An estimate of what a cardiac MRI would have measured, with split-conformal prediction
    /// intervals (estimate +- the model's quantile of validation residuals).
    public struct Estimate: Codable, Sendable, Equatable {
        public var name: String
        public var unit: String
        public var value: Double
        public var interval80: [Double]
        public var interval95: [Double]

        enum CodingKeys: String, CodingKey {
            case name, unit, value, interval80 = "interval_80", interval95 = "interval_95"
        }
    }

    /// A disease probability and whether it reaches the model's risk threshold.
    public struct Risk: Codable, Sendable, Equatable {
        public var name: String
        public var probability: Double
        public var threshold: Double
        public var flagged: Bool
    }

    /// Per-lead signal quality over the scored windows.
    public struct LeadQualityReport: Codable, Sendable, Equatable {
        public var lead: String
        /// "ok", or the worst problem seen in any window ("flat", "saturated", "noisy").
        public var status: String
        /// Windows in which this lead had a problem.
        public var windowsWithProblems: Int
        /// True when the lead was computed from I and II rather than recorded.
        public var derived: Bool

        enum CodingKeys: String, CodingKey {
            case lead, status, windowsWithProblems = "windows_with_problems", derived
        }
    }

    /// How the recording was cut and combined.
    public struct Windowing: Codable, Sendable, Equatable {
        /// Windows scored (consecutive, non-overlapping, from the first sample).
        public var count: Int
        public var samplesPerWindow: Int
        public var seconds: Double
        /// Samples at the model's rate after resampling; the tail shorter than a window is not scored.
        public var samplesUsed: Int
        public var samplesUnused: Int
        public var inputRateHz: Double
        public var modelRateHz: Double
        public var resampled: Bool
        /// How window outputs become the recording's result.
        public var aggregation: String

        enum CodingKeys: String, CodingKey {
            case count, samplesPerWindow = "samples_per_window", seconds, samplesUsed = "samples_used"
            case samplesUnused = "samples_unused", inputRateHz = "input_rate_hz", modelRateHz = "model_rate_hz"
            case resampled, aggregation
        }
    }

    /// Record id (file stem or WFDB record name).
    public var record: String
    /// The path it was read from.
    public var source: String
    public var model: ModelIdentity
    public var estimates: [Estimate]
    public var risks: [Risk]
    /// Names of the diseases whose probability reached the threshold.
    public var flags: [String]
    public var quality: [LeadQualityReport]
    public var windows: Windowing
}
