/// Per-lead signal quality of a raw window (millivolts, before conditioning): is the lead flat
/// (lead off), saturated (clipped or out of range), noisy, or usable?
///
/// Measures, in float64 over the window's n samples:
/// - `peakToPeakMV`: max - min;
/// - `standardDeviationMV`: population standard deviation;
/// - `maximumAbsoluteMV`: the largest |x| (infinity when a sample is NaN or infinite);
/// - `pinnedFraction`: the fraction of samples exactly equal to the window's minimum or maximum
///   (a clipped lead sits on its rail for many samples; a clean one touches its extremes at a
///   handful of samples);
/// - `noiseRatio`: RMS of the second difference `x[k+1] - 2 x[k] + x[k-1]` divided by the
///   standard deviation (0 when the deviation is 0 or n < 3). The second difference is a
///   high-pass (gain 0.02 at 10 Hz, 0.38 at 50 Hz, 2.6 at 150 Hz for 500 Hz sampling), so the
///   ratio is small for an ECG, whose power lies below 40 Hz, and about sqrt(6) = 2.45 for white
///   noise.
///
/// Status, first match wins: `flat`, then `saturated`, then `noisy`, else `ok`.
/// The default `Thresholds` were chosen on the five committed recordings
/// (`examples/recordings`, 500 Hz, every 2500-sample window at a stride of 50 samples, all 12
/// leads: peak-to-peak >= 0.305 mV, standard deviation >= 0.035 mV, pinned fraction <= 0.0044,
/// noise ratio <= 0.65, |x| <= 2.07 mV) against synthetic defects of the same windows:
/// - flat if peak-to-peak < 0.02 mV or standard deviation < 0.005 mV (15x and 7x below the
///   cleanest-lead minimum; a disconnected lead shows the ADC's few-microvolt noise);
/// - saturated if any |x| > 10 mV (no surface ECG is that large, even with a DC offset a
///   recorder would have removed), any sample is non-finite, or pinned fraction >= 0.01 (25 of
///   2500 samples; clipping at 50 % of each lead's excursion pins >= 3.7 %, the clean maximum is
///   0.44 %);
/// - noisy if noise ratio > 1.0 (clean maximum 0.65; on anterior_mi_00190's first window, white
///   noise as strong as the ECG (0 dB) gives >= 1.69, at 6 dB SNR >= 1.08, at 10 dB about 0.75,
///   which passes; 20-150 Hz muscle-like noise reaches 1.0 only at about 0 dB).
/// The noise ratio depends on the sampling rate: measure windows at the model's rate (500 Hz),
/// after resampling.
///
/// A value type; the `assess` calls that write into caller buffers allocate nothing.
public struct LeadQuality: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case ok, flat, saturated, noisy
    }

    /// The limits of the status rules (see the type's documentation for how they were chosen).
    public struct Thresholds: Sendable, Equatable {
        public var minimumPeakToPeakMV: Double
        public var minimumStandardDeviationMV: Double
        public var maximumAbsoluteMV: Double
        public var maximumPinnedFraction: Double
        public var maximumNoiseRatio: Double

        public init(
            minimumPeakToPeakMV: Double = 0.02, minimumStandardDeviationMV: Double = 0.005,
            maximumAbsoluteMV: Double = 10, maximumPinnedFraction: Double = 0.01, maximumNoiseRatio: Double = 1.0
        ) {
            self.minimumPeakToPeakMV = minimumPeakToPeakMV
            self.minimumStandardDeviationMV = minimumStandardDeviationMV
            self.maximumAbsoluteMV = maximumAbsoluteMV
            self.maximumPinnedFraction = maximumPinnedFraction
            self.maximumNoiseRatio = maximumNoiseRatio
        }

        public static let `default` = Thresholds()
    }

    public var status: Status
    public var peakToPeakMV: Double
    public var standardDeviationMV: Double
    public var maximumAbsoluteMV: Double
    public var pinnedFraction: Double
    public var noiseRatio: Double

    public init(status: Status, peakToPeakMV: Double, standardDeviationMV: Double, maximumAbsoluteMV: Double,
                pinnedFraction: Double, noiseRatio: Double) {
        self.status = status
        self.peakToPeakMV = peakToPeakMV
        self.standardDeviationMV = standardDeviationMV
        self.maximumAbsoluteMV = maximumAbsoluteMV
        self.pinnedFraction = pinnedFraction
        self.noiseRatio = noiseRatio
    }

    /// Measures one lead's samples (millivolts) and classifies them. Allocates nothing.
    /// Non-finite samples are left out of the measures and make the lead `saturated`.
    public static func assess(_ samples: UnsafeBufferPointer<Float>, thresholds: Thresholds = .default) -> LeadQuality {
        let n = samples.count
        var lo = Float.infinity, hi = -Float.infinity
        var sum = 0.0, finite = 0
        for v in samples where v.isFinite {
            lo = min(lo, v)
            hi = max(hi, v)
            sum += Double(v)
            finite += 1
        }
        guard finite > 0 else {
            let status: Status = n == 0 ? .flat : .saturated
            return LeadQuality(status: status, peakToPeakMV: 0, standardDeviationMV: 0,
                               maximumAbsoluteMV: n == 0 ? 0 : .infinity, pinnedFraction: 0, noiseRatio: 0)
        }
        let mean = sum / Double(finite)
        var squares = 0.0, pinned = 0
        for v in samples where v.isFinite {
            let d = Double(v) - mean
            squares += d * d
            if v == lo || v == hi { pinned += 1 }
        }
        var d2Squares = 0.0, d2Count = 0
        if n >= 3 {
            for k in 1 ..< n - 1 {
                let a = samples[k - 1], b = samples[k], c = samples[k + 1]
                guard a.isFinite, b.isFinite, c.isFinite else { continue }
                let d2 = (Double(c) - 2 * Double(b)) + Double(a)
                d2Squares += d2 * d2
                d2Count += 1
            }
        }
        let std = (squares / Double(finite)).squareRoot()
        let rmsD2 = d2Count > 0 ? (d2Squares / Double(d2Count)).squareRoot() : 0
        let quality = LeadQuality(
            status: .ok,
            peakToPeakMV: Double(hi) - Double(lo),
            standardDeviationMV: std,
            maximumAbsoluteMV: finite < n ? .infinity : max(abs(Double(lo)), abs(Double(hi))),
            pinnedFraction: Double(pinned) / Double(finite),
            noiseRatio: std > 0 ? rmsD2 / std : 0)
        var result = quality
        result.status = quality.classify(thresholds)
        return result
    }

    /// The status these measures get under `thresholds`.
    public func classify(_ t: Thresholds) -> Status {
        if peakToPeakMV < t.minimumPeakToPeakMV || standardDeviationMV < t.minimumStandardDeviationMV { return .flat }
        if maximumAbsoluteMV > t.maximumAbsoluteMV || pinnedFraction >= t.maximumPinnedFraction { return .saturated }
        if noiseRatio > t.maximumNoiseRatio { return .noisy }
        return .ok
    }

    /// Assesses every lead of a lead-major window (`leadCount` rows of equal length) into
    /// `results` (one per lead). Allocates nothing. Throws `.invalidShape` when the window does
    /// not split into `leadCount` rows and `.bufferSizeMismatch` when `results` is not
    /// `leadCount` long.
    public static func assess(window: UnsafeBufferPointer<Float>, leadCount: Int, into results: UnsafeMutableBufferPointer<LeadQuality>,
                              thresholds: Thresholds = .default) throws(SignalError) {
        guard leadCount >= 1, window.count % leadCount == 0, window.count > 0 else {
            throw .invalidShape(leadCount: leadCount, sampleCount: leadCount >= 1 ? window.count / leadCount : window.count)
        }
        if results.count != leadCount {
            throw .bufferSizeMismatch(buffer: "lead quality", expected: leadCount, actual: results.count)
        }
        let n = window.count / leadCount
        for lead in 0 ..< leadCount {
            results[lead] = assess(UnsafeBufferPointer(rebasing: window[lead * n ..< (lead + 1) * n]), thresholds: thresholds)
        }
    }

    /// `assess(window:leadCount:into:)` into a new array (allocates the result).
    public static func assess(window: [Float], leadCount: Int, thresholds: Thresholds = .default) throws(SignalError) -> [LeadQuality] {
        var results = [LeadQuality](
            repeating: LeadQuality(status: .flat, peakToPeakMV: 0, standardDeviationMV: 0, maximumAbsoluteMV: 0, pinnedFraction: 0, noiseRatio: 0),
            count: max(leadCount, 0))
        try window.withUnsafeBufferPointer { (w) throws(SignalError) in
            try results.withUnsafeMutableBufferPointer { (r) throws(SignalError) in
                try assess(window: w, leadCount: leadCount, into: r, thresholds: thresholds)
            }
        }
        return results
    }
}
