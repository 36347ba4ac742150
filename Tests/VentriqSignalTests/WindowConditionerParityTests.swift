import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// `WindowConditioner` against `ventriq_training.preprocess` (`filter_chain`,
/// `preprocess_float64`, `preprocess`) on random float32 signals with steps at both edges.
@Suite struct WindowConditionerParityTests {
    /// One configuration: Python keyword arguments of `PreprocessConfig` and the lengths to try.
    struct Case: CustomTestStringConvertible, Sendable {
        var kwargs: String
        var lengths: [Int]
        var seed: Int
        var testDescription: String { "PreprocessConfig(\(kwargs))" }
    }

    static let cases: [Case] = [
        // The default chain (min_length 16).
        Case(kwargs: "", lengths: [16, 17, 101, 1001, 2500, 2501], seed: 11),
        // 60 Hz notch, per-recording z-score.
        Case(kwargs: "mains_hz=60.0, zscore='per_recording'", lengths: [16, 999, 2500], seed: 12),
        // No notch, per-recording z-score, odd high-pass order, other Savitzky-Golay (min_length 21).
        Case(kwargs: "mains_hz=None, zscore='per_recording', highpass_order=3, savgol_window=21, savgol_order=2",
             lengths: [21, 22, 777, 2500], seed: 13),
        // Order 5 high-pass at 0.7 Hz, 60 Hz notch, per lead, window 11 / order 4.
        Case(kwargs: "mains_hz=60.0, highpass_order=5, highpass_hz=0.7, savgol_window=11, savgol_order=4",
             lengths: [19, 1250, 2500], seed: 14),
    ]

    static let script = """
        import json, sys
        import numpy as np
        from ventriq_training.preprocess import PreprocessConfig, coefficients, filter_chain, preprocess, preprocess_float64
        out, kwargs, lengths, seed = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
        cfg = eval(f'PreprocessConfig({kwargs})')
        with open(f'{out}/spec.json', 'w') as f:
            json.dump(coefficients(cfg), f)
        rng = np.random.default_rng(seed)
        for n in lengths:
            t = np.arange(n) / cfg.fs_hz
            x = (rng.standard_normal((12, n)) * 0.2
                 + np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, (12, 1)))
                 + rng.uniform(-2, 2, (12, 1)))
            k = max(1, n // 40)  # steps right at both edges
            x[:, :k] += rng.uniform(-3, 3, (12, 1))
            x[:, n - k:] += rng.uniform(-3, 3, (12, 1))
            x = x.astype(np.float32)
            x.tofile(f'{out}/x{n}.f32')
            filter_chain(x, cfg).tofile(f'{out}/filtered{n}.f64')
            preprocess_float64(x, cfg).tofile(f'{out}/z{n}.f64')
            preprocess(x, cfg).tofile(f'{out}/z{n}.f32')
        """

    @Test(arguments: cases)
    func matchesTrainer(_ c: Case) throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-signal-parity")
        defer { try? FileManager.default.removeItem(at: dir) }
        let lengthsJSON = "[" + c.lengths.map(String.init).joined(separator: ",") + "]"
        try Reference.python(Self.script, [dir.path, c.kwargs, lengthsJSON, String(c.seed)])
        let spec = try JSONDecoder().decode(
            ConditioningSpec.self, from: Data(contentsOf: dir.appendingPathComponent("spec.json")))
        let h = spec.settings.savgolWindow / 2
        #expect(c.lengths[0] == spec.minLength, "the first length tried is the minimum")

        for n in c.lengths {
            let x = try Reference.floats(dir.appendingPathComponent("x\(n).f32"))
            let refFiltered = try Reference.doubles(dir.appendingPathComponent("filtered\(n).f64"))
            let refZ64 = try Reference.doubles(dir.appendingPathComponent("z\(n).f64"))
            let refZ32 = try Reference.floats(dir.appendingPathComponent("z\(n).f32"))
            #expect(x.count == 12 * n && refZ32.count == 12 * n)

            let conditioner = try WindowConditioner(spec: spec, leadCount: 12, sampleCount: n)
            var filtered = [Double](repeating: .nan, count: 12 * n)
            var z64 = [Double](repeating: .nan, count: 12 * n)
            var z32 = [Float](repeating: .nan, count: 12 * n)
            try x.withUnsafeBufferPointer { src in
                try filtered.withUnsafeMutableBufferPointer { try conditioner.filterFloat64(src, into: $0) }
                try z64.withUnsafeMutableBufferPointer { try conditioner.conditionFloat64(src, into: $0) }
                try z32.withUnsafeMutableBufferPointer { try conditioner.condition(src, into: $0) }
            }

            var interiorMismatch = 0, edgeFilteredMax = 0.0, filteredScale = 0.0
            var z64Max = 0.0, z64Mismatch = 0
            var z32InteriorMismatch = 0, z32EdgeUlps = 0, z32Max: Float = 0
            for lead in 0 ..< 12 {
                for i in 0 ..< n {
                    let k = lead * n + i
                    let edge = i < h || i >= n - h
                    filteredScale = max(filteredScale, abs(refFiltered[k]))
                    if edge {
                        edgeFilteredMax = max(edgeFilteredMax, abs(filtered[k] - refFiltered[k]))
                    } else if filtered[k].bitPattern != refFiltered[k].bitPattern {
                        interiorMismatch += 1
                    }
                    z64Max = max(z64Max, abs(z64[k] - refZ64[k]))
                    if z64[k] != refZ64[k] { z64Mismatch += 1 }
                    z32Max = max(z32Max, abs(z32[k] - refZ32[k]))
                    if edge {
                        z32EdgeUlps = max(z32EdgeUlps, ulpDistance(z32[k], refZ32[k]))
                    } else if z32[k] != refZ32[k] {
                        z32InteriorMismatch += 1
                    }
                }
            }
            print("parity \(c.testDescription) n=\(n): filter-chain interior bit mismatches \(interiorMismatch), "
                + "edge max |d| \(edgeFilteredMax) (scale \(filteredScale)); float64 z max |d| \(z64Max) "
                + "(\(z64Mismatch) of \(12 * n) differ); float32 max |d| \(z32Max), interior mismatches "
                + "\(z32InteriorMismatch), edge max \(z32EdgeUlps) ulp")
            // The z-score alone is bit-exact: standardising the trainer's own filter-chain output
            // gives preprocess_float64's bits (so the float64 differences above all come from the
            // Savitzky-Golay edges through the mean and standard deviation).
            var restandardized = refFiltered
            restandardized.withUnsafeMutableBufferPointer { y in
                if spec.settings.zscore == "per_recording" {
                    ZScore.standardizeInPlace(y.baseAddress!, count: 12 * n, eps: spec.settings.zscoreEps)
                } else {
                    for lead in 0 ..< 12 {
                        ZScore.standardizeInPlace(y.baseAddress! + lead * n, count: n, eps: spec.settings.zscoreEps)
                    }
                }
            }
            #expect(zip(restandardized, refZ64).allSatisfy { $0.bitPattern == $1.bitPattern }, "n=\(n): z-score bits")
            #expect(interiorMismatch == 0, "n=\(n): steps 1-3 are bit-identical away from the Savitzky-Golay edges")
            #expect(edgeFilteredMax <= 1e-12, "n=\(n)")
            #expect(z64Max <= 1e-12, "n=\(n)")
            #expect(z32InteriorMismatch == 0, "n=\(n)")
            #expect(z32EdgeUlps <= 1, "n=\(n)")
        }
    }
}
