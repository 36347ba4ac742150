import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// `LeadQuality` on the committed recordings (read with wfdb-python) and on synthetic defects.
@Suite struct LeadQualityTests {
    static let records = ["normal_00252", "anterior_mi_00190", "atrial_fibrillation_00302", "lbbb_reduced_ef_00099", "rv_dysfunction_rbbb_00272"]
    static let offsets = [0, 1250, 2500]

    /// The five recordings as lead-major float32 (12 x 5000) plus numpy's measures of each window.
    struct Recordings {
        var signals: [String: [Float]]
        /// record -> offset -> 12 x [ptp, std, maxabs, pinned, noise]
        var measures: [String: [[Double]]]
    }

    static func loadRecordings(into dir: URL) throws -> Recordings {
        let names = "[" + records.map { "'\($0)'" }.joined(separator: ",") + "]"
        try Reference.python("""
            import sys
            import numpy as np
            import wfdb
            out = sys.argv[1]
            for name in \(names):
                rec = wfdb.rdrecord('examples/recordings/' + name)
                assert rec.fs == 500 and rec.sig_name[:2] == ['I', 'II']
                x = np.ascontiguousarray(rec.p_signal.T.astype(np.float32))
                x.tofile(f'{out}/{name}.f32')
                rows = []
                for s in \(offsets):
                    w = x[:, s:s + 2500].astype(np.float64)
                    sd = w.std(-1)
                    pinned = ((w == w.max(-1, keepdims=True)) | (w == w.min(-1, keepdims=True))).mean(-1)
                    noise = np.sqrt((np.diff(w, 2, axis=-1) ** 2).mean(-1)) / sd
                    rows.append(np.stack([np.ptp(w, -1), sd, np.abs(w).max(-1), pinned, noise], -1))
                np.stack(rows).tofile(f'{out}/{name}.measures.f64')
            """, [dir.path])
        var result = Recordings(signals: [:], measures: [:])
        for name in records {
            result.signals[name] = try Reference.floats(dir.appendingPathComponent("\(name).f32"))
            let m = try Reference.doubles(dir.appendingPathComponent("\(name).measures.f64"))
            result.measures[name] = stride(from: 0, to: m.count, by: 5).map { Array(m[$0 ..< $0 + 5]) }
        }
        return result
    }

    /// Window `offset ..< offset + 2500` of a 12 x 5000 lead-major signal.
    static func window(_ signal: [Float], offset: Int) -> [Float] {
        (0 ..< 12).flatMap { lead in signal[lead * 5000 + offset ..< lead * 5000 + offset + 2500] }
    }

    @Test func cleanRecordingsPassAndMeasuresMatchNumpy() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-quality")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recs = try Self.loadRecordings(into: dir)
        var worst = (ptp: Double.infinity, std: Double.infinity, pinned: 0.0, noise: 0.0)
        for name in Self.records {
            let signal = try #require(recs.signals[name])
            #expect(signal.count == 12 * 5000)
            for (w, offset) in Self.offsets.enumerated() {
                let q = try LeadQuality.assess(window: Self.window(signal, offset: offset), leadCount: 12)
                for lead in 0 ..< 12 {
                    let ref = recs.measures[name]![w * 12 + lead]
                    let got = [q[lead].peakToPeakMV, q[lead].standardDeviationMV, q[lead].maximumAbsoluteMV,
                               q[lead].pinnedFraction, q[lead].noiseRatio]
                    for (g, r) in zip(got, ref) { #expect(abs(g - r) <= 1e-9 * max(abs(r), 1e-3), "\(name) lead \(lead)") }
                    #expect(q[lead].status == .ok, "\(name) @\(offset) lead \(LeadName.standard[lead]): \(q[lead])")
                    worst = (min(worst.ptp, got[0]), min(worst.std, got[1]), max(worst.pinned, got[3]), max(worst.noise, got[4]))
                }
            }
        }
        // Every window at a stride of 50 samples is clean too (where the thresholds were chosen).
        for name in Self.records {
            for offset in stride(from: 0, through: 2500, by: 50) {
                let q = try LeadQuality.assess(window: Self.window(recs.signals[name]!, offset: offset), leadCount: 12)
                for quality in q {
                    #expect(quality.status == .ok, "\(name) @\(offset): \(quality)")
                    worst = (min(worst.ptp, quality.peakToPeakMV), min(worst.std, quality.standardDeviationMV),
                             max(worst.pinned, quality.pinnedFraction), max(worst.noise, quality.noiseRatio))
                }
            }
        }
        print("lead quality on the recordings: min peak-to-peak \(worst.ptp) mV, min std \(worst.std) mV, "
            + "max pinned fraction \(worst.pinned), max noise ratio \(worst.noise)")
    }

    @Test func syntheticDefectsFail() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-quality-defects")
        defer { try? FileManager.default.removeItem(at: dir) }
        let recs = try Self.loadRecordings(into: dir)
        var rng = TestRandom(seed: 77)
        for name in Self.records {
            let clean = Self.window(recs.signals[name]!, offset: 0)
            let leads = (0 ..< 12).map { Array(clean[$0 * 2500 ..< ($0 + 1) * 2500]) }
            func statuses(_ transform: ([Float]) -> [Float]) throws -> [LeadQuality] {
                try LeadQuality.assess(window: leads.flatMap(transform), leadCount: 12)
            }
            func expectAll(_ q: [LeadQuality], _ status: LeadQuality.Status, _ what: String) {
                for (lead, quality) in q.enumerated() {
                    #expect(quality.status == status, "\(name) lead \(lead) \(what): \(quality)")
                }
            }
            // Lead off: a dead line, a DC level, the ADC's few-microvolt noise.
            expectAll(try statuses { $0.map { _ in 0 } }, .flat, "zeros")
            expectAll(try statuses { $0.map { _ in 0.35 } }, .flat, "constant")
            expectAll(try statuses { $0.map { _ in Float(rng.gaussian() * 0.002) } }, .flat, "2 uV noise")
            // Clipping at half of each lead's excursion from its median, on both sides.
            expectAll(try statuses { x in
                let sorted = x.sorted(), median = sorted[x.count / 2]
                let hi = median + (sorted.last! - median) * 0.5, lo = median + (sorted.first! - median) * 0.5
                return x.map { min(max($0, lo), hi) }
            }, .saturated, "clipped at 50 %")
            // Baseline drift into the amplifier's rail: a ramp to +5 mV against a +2.5 mV limit.
            expectAll(try statuses { x in
                x.indices.map { min(x[$0] + Float(5 * Double($0) / Double(x.count)), 2.5) }
            }, .saturated, "drifting into the rail")
            // Out of range: a 12 mV offset.
            expectAll(try statuses { $0.map { $0 + 12 } }, .saturated, "12 mV offset")
            // Noise: white noise as strong as the lead (0 dB SNR), and noise alone.
            expectAll(try statuses { x in
                let mean = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
                let sd = (x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(x.count)).squareRoot()
                return x.map { $0 + Float(rng.gaussian() * sd) }
            }, .noisy, "0 dB white noise")
            expectAll(try statuses { $0.map { _ in Float(rng.gaussian() * 0.2) } }, .noisy, "noise only")
        }
    }

    @Test func edgeCases() throws {
        let nan = try LeadQuality.assess(window: [0.1, .nan, 0.3, -0.2, 0.5, 0.0, 0.2, -0.4], leadCount: 2)
        #expect(nan[0].status == .saturated && nan[0].maximumAbsoluteMV == .infinity)
        #expect(nan[1].maximumAbsoluteMV == 0.5 && nan[1].peakToPeakMV == Double(Float(0.5)) - Double(Float(-0.4)))
        #expect(try LeadQuality.assess(window: [1, 2], leadCount: 1)[0].noiseRatio == 0)
        #expect(throws: SignalError.invalidShape(leadCount: 3, sampleCount: 3)) {
            try LeadQuality.assess(window: [Float](repeating: 0, count: 10), leadCount: 3)
        }
        // Thresholds are the caller's to change.
        let lenient = LeadQuality.Thresholds(maximumNoiseRatio: 10)
        var rng = TestRandom(seed: 1)
        let noise = (0 ..< 2500).map { _ in Float(rng.gaussian() * 0.2) }
        #expect(try LeadQuality.assess(window: noise, leadCount: 1)[0].status == .noisy)
        #expect(try LeadQuality.assess(window: noise, leadCount: 1, thresholds: lenient)[0].status == .ok)
        let q = try LeadQuality.assess(window: noise, leadCount: 1)[0]
        #expect(abs(q.noiseRatio - 6.0.squareRoot()) < 0.1, "white noise: sqrt(6)")
    }

    @Test(.enabled(if: AllocationCounter.available() == 1, "malloc interposition needs glibc"))
    func assessIntoBufferDoesNotAllocate() throws {
        var rng = TestRandom(seed: 2)
        let window = (0 ..< 12 * 2500).map { _ in Float(rng.gaussian()) }
        var results = [LeadQuality](repeating: LeadQuality(status: .ok, peakToPeakMV: 0, standardDeviationMV: 0,
                                                           maximumAbsoluteMV: 0, pinnedFraction: 0, noiseRatio: 0), count: 12)
        var fewest = UInt64.max
        try window.withUnsafeBufferPointer { w in
            try results.withUnsafeMutableBufferPointer { r in
                try LeadQuality.assess(window: w, leadCount: 12, into: r)
                for _ in 0 ..< 10 {
                    AllocationCounter.start()
                    try LeadQuality.assess(window: w, leadCount: 12, into: r)
                    AllocationCounter.stop()
                    fewest = min(fewest, AllocationCounter.allocations())
                }
            }
        }
        #expect(fewest == 0)
        #expect(results.allSatisfy { $0.status == .noisy })
    }
}
