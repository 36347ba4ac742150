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
        return measured(count: n, finite: finite, lo: lo, hi: hi, squares: squares, pinned: pinned,
                        d2Squares: d2Squares, d2Count: d2Count, thresholds: thresholds)
    }

    /// The measures and status from `assess`'s sums over one lead (shared with the four-lead
    /// path, so both finish the same way).
    @inline(__always)
    static func measured(count n: Int, finite: Int, lo: Float, hi: Float, squares: Double, pinned: Int,
                         d2Squares: Double, d2Count: Int, thresholds: Thresholds) -> LeadQuality {
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

    /// `assess` on four leads at once, one per SIMD lane (`rows`, `n` samples each), when all
    /// their samples are finite; returns nil, having written nothing, when one is not (the caller
    /// then runs `assess` lead by lead).
    ///
    /// Why: `assess`'s sums are sequential chains of float64 additions, one lead at a time bound
    /// by the adder's latency; four leads' chains in the lanes of one vector cost about as much as
    /// one. Each lane performs `assess`'s operations in its order (min and max as `Swift.min`
    /// and `Swift.max` evaluate them, the sums sample by sample), so the results are identical;
    /// with every sample finite, `assess`'s `isFinite` filters keep everything.
    static func assessFinite(
        _ rows: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
        count n: Int, thresholds: Thresholds
    ) -> (LeadQuality, LeadQuality, LeadQuality, LeadQuality)? {
        typealias F4 = SIMD4<Float>
        typealias D4 = SIMD4<Double>
        // (No nested functions here: capturing the running sums would box them on the heap in
        // unoptimised builds, and this path must not allocate.)
        let (r0, r1, r2, r3) = rows
        // Extremes, sum and the second differences' squares (centred on the sample before the
        // previous one, so in `assess`'s order). The float64 sum of finite float32 samples
        // cannot overflow, so it is finite exactly when every sample is: the test for the
        // fallback, after the pass.
        var lo = F4(repeating: .infinity), hi = F4(repeating: -.infinity)
        var sum = D4.zero, d2Squares = D4.zero
        var before = D4.zero, center = D4.zero  // samples k - 2 and k - 1
        var k = 0
        while k < n {
            let v = F4(r0[k], r1[k], r2[k], r3[k])
            lo.replace(with: v, where: v .< lo)  // min(lo, v): v < lo ? v : lo
            hi.replace(with: v, where: v .>= hi)  // max(hi, v): v >= hi ? v : hi
            let x = D4(v)
            sum += x
            if k >= 2 {
                let d2 = (x - 2 * center) + before
                d2Squares += d2 * d2
            }
            before = center
            center = x
            k += 1
        }
        guard sum[0].isFinite, sum[1].isFinite, sum[2].isFinite, sum[3].isFinite else { return nil }
        let mean = sum / D4(repeating: Double(n))
        var squares = D4.zero
        var pinned = SIMD4<Int32>.zero
        k = 0
        while k < n {
            let v = F4(r0[k], r1[k], r2[k], r3[k])
            let d = D4(v) - mean
            squares += d * d
            pinned.replace(with: pinned &+ 1, where: (v .== lo) .| (v .== hi))
            k += 1
        }
        let d2Count = max(n - 2, 0)
        return (
            measured(count: n, finite: n, lo: lo[0], hi: hi[0], squares: squares[0], pinned: Int(pinned[0]),
                     d2Squares: d2Squares[0], d2Count: d2Count, thresholds: thresholds),
            measured(count: n, finite: n, lo: lo[1], hi: hi[1], squares: squares[1], pinned: Int(pinned[1]),
                     d2Squares: d2Squares[1], d2Count: d2Count, thresholds: thresholds),
            measured(count: n, finite: n, lo: lo[2], hi: hi[2], squares: squares[2], pinned: Int(pinned[2]),
                     d2Squares: d2Squares[2], d2Count: d2Count, thresholds: thresholds),
            measured(count: n, finite: n, lo: lo[3], hi: hi[3], squares: squares[3], pinned: Int(pinned[3]),
                     d2Squares: d2Squares[3], d2Count: d2Count, thresholds: thresholds))
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
        let x = window.baseAddress!
        // Four leads at a time (`assessFinite`); a short last group repeats its last lead in the
        // spare lanes. A group with a non-finite sample, or too long for the 32-bit pinned
        // counts, goes lead by lead.
        var first = 0
        while first < leadCount {
            let (l0, l1, l2, l3) = leadGroup(first: first, count: leadCount)
            if n < Int(Int32.max), let q = assessFinite((x + l0 * n, x + l1 * n, x + l2 * n, x + l3 * n), count: n, thresholds: thresholds) {
                results[l0] = q.0
                results[l1] = q.1
                results[l2] = q.2
                results[l3] = q.3
            } else {
                for lead in first ..< min(first + 4, leadCount) {
                    results[lead] = assess(UnsafeBufferPointer(rebasing: window[lead * n ..< (lead + 1) * n]), thresholds: thresholds)
                }
            }
            first += 4
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
