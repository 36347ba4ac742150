import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// `LeadQuality.assess(window:)` measures four leads at a time (`assessFinite`, one per SIMD
/// lane); it must give exactly what `assess` gives lead by lead, short last groups, non-finite
/// samples (the fallback), flat, clipped and signed-zero leads included.
@Suite struct LeadQualityGroupTests {
    /// Lead `lead` of a test window: a different kind of signal per lead, so that groups mix them.
    static func lead(_ lead: Int, count n: Int, _ rng: inout TestRandom) -> [Float] {
        var x = (0 ..< n).map { _ in Float(rng.gaussian() * 0.4 + 0.1) }
        switch lead % 7 {
        case 1: x = x.map { min(max($0, -0.3), 0.35) }  // clipped: many samples on the rails
        case 2: x = [Float](repeating: 0.25, count: n)  // flat
        case 3: x = x.map { $0 < 0 ? -0.0 : ($0 > 0.5 ? 0.0 : $0) }  // signed zeros at both rails
        case 4 where n > 1: x[n / 2] = .nan  // non-finite: the group falls back to `assess`
        case 5: x = x.map { $0 * 30 }  // saturated by amplitude
        case 6 where lead > 7: x[0] = -.infinity
        default: break
        }
        return x
    }

    static func bits(_ q: LeadQuality) -> [UInt64] {
        [q.peakToPeakMV, q.standardDeviationMV, q.maximumAbsoluteMV, q.pinnedFraction, q.noiseRatio].map(\.bitPattern)
    }

    @Test func groupedEqualsLeadByLead() throws {
        var rng = TestRandom(seed: 41)
        for n in [1, 2, 3, 16, 2500] {
            for leads in [1, 2, 3, 5, 8, 12, 13] {
                var window: [Float] = []
                for lead in 0 ..< leads { window += Self.lead(lead, count: n, &rng) }
                // A clean-only window too (every group on the four-lane path).
                let clean = (0 ..< leads * n).map { _ in Float(rng.gaussian()) }
                for w in [window, clean] {
                    let grouped = try LeadQuality.assess(window: w, leadCount: leads)
                    for lead in 0 ..< leads {
                        let single = w.withUnsafeBufferPointer { LeadQuality.assess(UnsafeBufferPointer(rebasing: $0[lead * n ..< (lead + 1) * n])) }
                        #expect(grouped[lead].status == single.status && Self.bits(grouped[lead]) == Self.bits(single),
                                "\(leads) leads x \(n) samples, lead \(lead): \(grouped[lead]) vs \(single)")
                    }
                }
            }
        }
    }
}
