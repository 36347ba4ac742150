/// Checking a decoded `ConditioningSpec` before anything runs it, and flattening it into the
/// plain numbers the filters use (`ConditioningPlan`).
extension ConditioningSpec {
    /// The step names this runtime implements, as `ventriq_training.preprocess` writes them.
    public enum Step: String, CaseIterable, Sendable {
        case highpass = "butterworth_highpass_sosfiltfilt"
        case notch = "iirnotch_filtfilt"
        case savgol = "savgol_interp"
        case zscore = "zscore"
    }

    /// The z-score modes (`config.zscore`).
    public enum ZScoreMode: String, CaseIterable, Sendable {
        case perLead = "per_lead"
        case perRecording = "per_recording"
    }

    /// The chain the settings describe: high-pass, the notch when `mainsHz` is set,
    /// Savitzky-Golay, z-score (what `PreprocessConfig.chain()` returns).
    public var expectedChain: [String] {
        var steps = [Step.highpass.rawValue]
        if settings.mainsHz != nil { steps.append(Step.notch.rawValue) }
        return steps + [Step.savgol.rawValue, Step.zscore.rawValue]
    }

    /// Checks that the spec describes a chain this runtime can run exactly: known step names in
    /// the expected order, coefficient arrays of consistent lengths, finite values, the pad lengths
    /// and `min_length` scipy would use. Allocates (error messages, the plan); call once per model.
    public func validate() throws(SignalError) {
        _ = try ConditioningPlan(self)
    }
}

/// A validated spec as flat float64 arrays (internal; the conditioner copies it into its own
/// buffers).
struct ConditioningPlan: Sendable {
    /// High-pass sections, 5 values each: b0, b1, b2, a1, a2 (a0 is 1).
    var sos: [Double]
    /// `sosfilt_zi`, 2 values per section.
    var sosZi: [Double]
    var sections: Int
    var highpassPadlen: Int
    /// Notch b0, b1, b2, a1, a2 (a0 is 1) and its `lfilter_zi`; nil when off.
    var notch: [Double]?
    var notchZi: [Double]?
    var notchPadlen: Int
    var savgolWindow: Int
    var savgolCoeffs: [Double]
    /// Edge matrices, row-major, (window / 2) x window each.
    var savgolLeft: [Double]
    var savgolRight: [Double]
    var zscore: ConditioningSpec.ZScoreMode
    var zscoreEps: Double
    var minLength: Int

    init(_ spec: ConditioningSpec) throws(SignalError) {
        let s = spec.settings
        let known = ConditioningSpec.Step.allCases.map(\.rawValue)
        for name in s.chain where !known.contains(name) {
            throw .unknownConditioningStep(name: name, known: known)
        }
        if s.chain != spec.expectedChain {
            throw .conditioningChainMismatch(chain: s.chain, expected: spec.expectedChain)
        }
        guard let mode = ConditioningSpec.ZScoreMode(rawValue: s.zscore) else {
            let modes = ConditioningSpec.ZScoreMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidConditioningSpec(field: "config.zscore", problem: "is \"\(s.zscore)\"; expected one of \(modes)")
        }
        zscore = mode
        guard s.zscoreEps.isFinite, s.zscoreEps > 0 else {
            throw .invalidConditioningSpec(field: "config.zscore_eps", problem: "must be positive and finite, got \(s.zscoreEps)")
        }
        zscoreEps = s.zscoreEps

        // High-pass: second-order sections [b0, b1, b2, 1, a1, a2].
        sections = spec.highpassSOS.count
        guard sections >= 1 else {
            throw .invalidConditioningSpec(field: "highpass_sos", problem: "has no sections")
        }
        let expectedSections = (s.highpassOrder + 1) / 2
        guard s.highpassOrder >= 1, sections == expectedSections else {
            throw .invalidConditioningSpec(
                field: "highpass_sos",
                problem: "has \(sections) sections; an order-\(s.highpassOrder) Butterworth has \(expectedSections)")
        }
        var sos: [Double] = []
        var zeroB2 = 0, zeroA2 = 0
        for (i, row) in spec.highpassSOS.enumerated() {
            guard row.count == 6 else {
                throw .invalidConditioningSpec(field: "highpass_sos", problem: "row \(i) has \(row.count) values; expected 6")
            }
            try Self.checkFinite(row, field: "highpass_sos row \(i)")
            guard row[3] == 1 else {
                throw .invalidConditioningSpec(field: "highpass_sos", problem: "row \(i) has a0 = \(row[3]); sosfilt needs a0 = 1")
            }
            if row[2] == 0 { zeroB2 += 1 }
            if row[5] == 0 { zeroA2 += 1 }
            sos += [row[0], row[1], row[2], row[4], row[5]]
        }
        self.sos = sos
        guard spec.highpassZi.count == sections, spec.highpassZi.allSatisfy({ $0.count == 2 }) else {
            throw .invalidConditioningSpec(
                field: "highpass_zi", problem: "must hold one [z0, z1] pair per section (\(sections) sections)")
        }
        sosZi = spec.highpassZi.flatMap { $0 }
        try Self.checkFinite(sosZi, field: "highpass_zi")
        let hpPad = 3 * (2 * sections + 1 - min(zeroB2, zeroA2))
        guard spec.highpassPadlen == hpPad else {
            throw .invalidConditioningSpec(
                field: "highpass_padlen", problem: "is \(spec.highpassPadlen); sosfiltfilt pads by \(hpPad) for these sections")
        }
        highpassPadlen = hpPad

        // Notch: present exactly when the chain has it.
        if s.mainsHz != nil {
            guard let b = spec.notchB, let a = spec.notchA, let zi = spec.notchZi, let pad = spec.notchPadlen else {
                throw .invalidConditioningSpec(
                    field: "notch_b, notch_a, notch_zi, notch_padlen", problem: "must all be set when the chain has the notch")
            }
            guard b.count == 3, a.count == 3 else {
                throw .invalidConditioningSpec(
                    field: "notch_b/notch_a", problem: "have \(b.count) and \(a.count) taps; expected 3 each")
            }
            guard zi.count == 2 else {
                throw .invalidConditioningSpec(field: "notch_zi", problem: "has \(zi.count) values; expected 2")
            }
            try Self.checkFinite(b, field: "notch_b")
            try Self.checkFinite(a, field: "notch_a")
            try Self.checkFinite(zi, field: "notch_zi")
            guard a[0] == 1 else {
                throw .invalidConditioningSpec(field: "notch_a", problem: "has a0 = \(a[0]); expected 1")
            }
            guard pad == 9 else {
                throw .invalidConditioningSpec(field: "notch_padlen", problem: "is \(pad); filtfilt pads a 3-tap filter by 9")
            }
            notch = [b[0], b[1], b[2], a[1], a[2]]
            notchZi = zi
            notchPadlen = pad
        } else {
            guard spec.notchB == nil, spec.notchA == nil, spec.notchZi == nil, spec.notchPadlen == nil else {
                throw .invalidConditioningSpec(
                    field: "notch_b, notch_a, notch_zi, notch_padlen", problem: "must be null when the notch is off (mains_hz null)")
            }
            notch = nil
            notchZi = nil
            notchPadlen = 0
        }

        // Savitzky-Golay.
        let w = s.savgolWindow
        guard w >= 3, w % 2 == 1 else {
            throw .invalidConditioningSpec(field: "config.savgol_window", problem: "must be odd and at least 3, got \(w)")
        }
        let h = w / 2
        guard spec.savgolCoeffs.count == w else {
            throw .invalidConditioningSpec(
                field: "savgol_coeffs", problem: "has \(spec.savgolCoeffs.count) values; expected savgol_window = \(w)")
        }
        try Self.checkFinite(spec.savgolCoeffs, field: "savgol_coeffs")
        for (name, matrix) in [("savgol_edge_left", spec.savgolEdgeLeft), ("savgol_edge_right", spec.savgolEdgeRight)] {
            guard matrix.count == h, matrix.allSatisfy({ $0.count == w }) else {
                throw .invalidConditioningSpec(field: name, problem: "must be \(h) rows x \(w) columns")
            }
            try Self.checkFinite(matrix.flatMap { $0 }, field: name)
        }
        savgolWindow = w
        savgolCoeffs = spec.savgolCoeffs
        savgolLeft = spec.savgolEdgeLeft.flatMap { $0 }
        savgolRight = spec.savgolEdgeRight.flatMap { $0 }

        let need = max(hpPad + 1, notch == nil ? 0 : notchPadlen + 1, w)
        guard spec.minLength == need else {
            throw .invalidConditioningSpec(
                field: "min_length", problem: "is \(spec.minLength); the pad lengths and window need \(need)")
        }
        minLength = need
    }

    private static func checkFinite(_ values: [Double], field: String) throws(SignalError) {
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw .invalidConditioningSpec(field: field, problem: "has a non-finite value (\(values[i])) at index \(i)")
        }
    }
}
