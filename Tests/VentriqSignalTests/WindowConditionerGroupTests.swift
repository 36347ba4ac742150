import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// The conditioner filters four leads at a time (one per SIMD lane); these hold it to the
/// one-lead-at-a-time scalar computation (`referenceFloat64`), bit for bit, at lead counts that
/// fill the groups and that leave a short last group.
@Suite struct WindowConditionerGroupTests {
    /// Python keyword arguments of `PreprocessConfig`: the default chain (per-lead z-score, 50 Hz
    /// notch, 2 high-pass sections); no notch with a per-recording z-score; an order-5 high-pass
    /// (3 sections: a pair and a single one) with a 60 Hz notch and a window-11 Savitzky-Golay.
    static let specs = [
        "",
        "mains_hz=None, zscore='per_recording'",
        "mains_hz=60.0, highpass_order=5, highpass_hz=0.7, savgol_window=11, savgol_order=4, zscore='per_recording'",
    ]

    @Test(arguments: specs)
    func groupedEqualsOneLeadAtATime(_ kwargs: String) throws {
        let spec = try kwargs.isEmpty ? Reference.defaultModelSpec() : Reference.spec(kwargs)
        var rng = TestRandom(seed: 77)
        for n in [spec.minLength, 301, 2500] {
            for leads in [1, 2, 3, 5, 8, 12, 13] {
                // Noise on a slow wave with a per-lead offset, and steps at both edges.
                var x = [Float](repeating: 0, count: leads * n)
                for lead in 0 ..< leads {
                    let offset = rng.uniform() * 4 - 2, phase = rng.uniform() * 6
                    let stepIn = rng.uniform() * 6 - 3, stepOut = rng.uniform() * 6 - 3, k = max(1, n / 40)
                    for i in 0 ..< n {
                        let angle: Double = 2 * Double.pi * 0.3 * Double(i) / 500 + phase
                        var v: Double = rng.gaussian() * 0.2 + offset
                        v += Foundation.sin(angle)
                        if i < k { v += stepIn }
                        if i >= n - k { v += stepOut }
                        x[lead * n + i] = Float(v)
                    }
                }
                let conditioner = try WindowConditioner(spec: spec, leadCount: leads, sampleCount: n)
                var filtered = [Double](repeating: .nan, count: leads * n), refFiltered = filtered
                var z64 = filtered, refZ64 = filtered
                var z32 = [Float](repeating: .nan, count: leads * n)
                try x.withUnsafeBufferPointer { src in
                    try filtered.withUnsafeMutableBufferPointer { try conditioner.filterFloat64(src, into: $0) }
                    try refFiltered.withUnsafeMutableBufferPointer { try conditioner.referenceFloat64(src, into: $0, zscore: false) }
                    try z64.withUnsafeMutableBufferPointer { try conditioner.conditionFloat64(src, into: $0) }
                    try refZ64.withUnsafeMutableBufferPointer { try conditioner.referenceFloat64(src, into: $0, zscore: true) }
                    try z32.withUnsafeMutableBufferPointer { try conditioner.condition(src, into: $0) }
                }
                let what = "\(spec.settings.zscore), \(leads) leads x \(n) samples"
                #expect(zip(filtered, refFiltered).allSatisfy { $0.bitPattern == $1.bitPattern }, "filter chain, \(what)")
                #expect(zip(z64, refZ64).allSatisfy { $0.bitPattern == $1.bitPattern }, "float64 z-score, \(what)")
                #expect(zip(z32, refZ64).allSatisfy { $0.bitPattern == Float($1).bitPattern }, "float32, \(what)")
            }
        }
    }
}
