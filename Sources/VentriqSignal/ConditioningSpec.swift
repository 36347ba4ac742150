/// The trainer's preprocessing chain, as exported in a model's config (`preprocessing`).
///
/// Decoded from the JSON written by `ventriq_training.preprocess.coefficients`: the settings
/// (`config`) and the exact float64 filter coefficients, initial conditions, pad lengths and
/// Savitzky-Golay kernels, so the runtime reproduces the chain without redesigning any filter.
/// See `training/ventriq_training/preprocess.py` for the algorithm, step by step.
public struct ConditioningSpec: Codable, Sendable, Equatable {
    /// The chain's settings.
    public struct Settings: Codable, Sendable, Equatable {
        public var fsHz: Double
        public var highpassHz: Double
        public var highpassOrder: Int
        /// Mains frequency of the notch; nil when the notch is off.
        public var mainsHz: Double?
        public var notchQ: Double
        public var savgolWindow: Int
        public var savgolOrder: Int
        /// "per_lead" or "per_recording".
        public var zscore: String
        public var zscoreEps: Double
        /// Step names in order (e.g. "butterworth_highpass_sosfiltfilt", "iirnotch_filtfilt",
        /// "savgol_interp", "zscore").
        public var chain: [String]

        enum CodingKeys: String, CodingKey {
            case fsHz = "fs_hz", highpassHz = "highpass_hz", highpassOrder = "highpass_order"
            case mainsHz = "mains_hz", notchQ = "notch_q", savgolWindow = "savgol_window"
            case savgolOrder = "savgol_order", zscore, zscoreEps = "zscore_eps", chain
        }
    }

    public var settings: Settings
    /// scipy version the coefficients were computed with (for the record).
    public var scipyVersion: String
    /// High-pass second-order sections, rows [b0, b1, b2, 1, a1, a2].
    public var highpassSOS: [[Double]]
    /// `sosfilt_zi` of the high-pass, one [z0, z1] per section.
    public var highpassZi: [[Double]]
    public var highpassPadlen: Int
    /// Notch numerator and denominator (3 taps each), nil when the notch is off.
    public var notchB: [Double]?
    public var notchA: [Double]?
    /// `lfilter_zi` of the notch (2 values), nil when the notch is off.
    public var notchZi: [Double]?
    public var notchPadlen: Int?
    /// The interior Savitzky-Golay kernel (length `savgolWindow`).
    public var savgolCoeffs: [Double]
    /// Edge fits as linear maps, each (savgolWindow / 2) rows x savgolWindow columns.
    public var savgolEdgeLeft: [[Double]]
    public var savgolEdgeRight: [[Double]]
    /// The shortest signal the chain accepts, in samples.
    public var minLength: Int

    enum CodingKeys: String, CodingKey {
        case settings = "config", scipyVersion = "scipy_version", highpassSOS = "highpass_sos"
        case highpassZi = "highpass_zi", highpassPadlen = "highpass_padlen", notchB = "notch_b"
        case notchA = "notch_a", notchZi = "notch_zi", notchPadlen = "notch_padlen"
        case savgolCoeffs = "savgol_coeffs", savgolEdgeLeft = "savgol_edge_left"
        case savgolEdgeRight = "savgol_edge_right", minLength = "min_length"
    }
}
