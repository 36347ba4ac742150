import CVentriqAllocationCounter
import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// The default model's spec, its golden vectors, the error paths and the allocation contract.
@Suite struct WindowConditionerTests {
    @Test func defaultModelSpecDecodesAndValidates() throws {
        let spec = try Reference.defaultModelSpec()
        try spec.validate()
        #expect(spec.settings.chain == spec.expectedChain)
        #expect(spec.settings.fsHz == 500 && spec.settings.mainsHz == 50)
        #expect(spec.highpassPadlen == 15 && spec.notchPadlen == 9 && spec.minLength == 16)
        let conditioner = try WindowConditioner(spec: spec, leadCount: 12, sampleCount: 2500)
        #expect(conditioner.minimumSampleCount == 16 && conditioner.valueCount == 30000)
    }

    /// `models/ventriq-compact.golden.safetensors`: `input.raw_mv` -> `input.preprocessed`.
    @Test func goldenVectors() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-signal-golden")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python("""
            import sys
            import numpy as np
            from safetensors import safe_open
            with safe_open('models/ventriq-compact.golden.safetensors', 'np') as f:
                raw, pre = f.get_tensor('input.raw_mv'), f.get_tensor('input.preprocessed')
            assert raw.shape == pre.shape == (5, 12, 2500) and raw.dtype == pre.dtype == np.float32
            np.ascontiguousarray(raw).tofile(sys.argv[1] + '/raw.f32')
            np.ascontiguousarray(pre).tofile(sys.argv[1] + '/pre.f32')
            """, [dir.path])
        let raw = try Reference.floats(dir.appendingPathComponent("raw.f32"))
        let expected = try Reference.floats(dir.appendingPathComponent("pre.f32"))
        #expect(raw.count == 5 * 30000 && expected.count == 5 * 30000)

        let conditioner = try WindowConditioner(spec: Reference.defaultModelSpec(), leadCount: 12, sampleCount: 2500)
        var maxError: Float = 0, maxUlps = 0, differing = 0
        for record in 0 ..< 5 {
            let window = Array(raw[record * 30000 ..< (record + 1) * 30000])
            let got = try conditioner.condition(window)
            for i in 0 ..< 30000 {
                let want = expected[record * 30000 + i]
                maxError = max(maxError, abs(got[i] - want))
                maxUlps = max(maxUlps, ulpDistance(got[i], want))
                if got[i] != want { differing += 1 }
            }
        }
        print("golden vectors: max |error| \(maxError), max \(maxUlps) ulp, \(differing) of 150000 values differ")
        #expect(maxUlps <= 1)
        #expect(maxError <= 1e-6)
    }

    /// A conditioner for fewer leads runs each lead exactly as the 12-lead one (per-lead z-score).
    @Test func leadCountIsIndependent() throws {
        let spec = try Reference.defaultModelSpec()
        var rng = TestRandom(seed: 5)
        let n = 700
        let window = (0 ..< 12 * n).map { i in Float(rng.gaussian() * 0.3 + Double(i % n) / 500) }
        let all = try WindowConditioner(spec: spec, leadCount: 12, sampleCount: n).condition(window)
        let two = try WindowConditioner(spec: spec, leadCount: 2, sampleCount: n)
            .condition(Array(window[3 * n ..< 5 * n]))
        #expect(two == Array(all[3 * n ..< 5 * n]))
    }

    @Test func conditionInPlace() throws {
        let conditioner = try WindowConditioner(spec: Reference.defaultModelSpec(), leadCount: 3, sampleCount: 64)
        var rng = TestRandom(seed: 9)
        var window = (0 ..< 3 * 64).map { _ in Float(rng.gaussian()) }
        let expected = try conditioner.condition(window)
        try window.withUnsafeMutableBufferPointer { buffer in
            try conditioner.condition(UnsafeBufferPointer(buffer), into: buffer)
        }
        #expect(window == expected)
    }

    // MARK: - Errors

    @Test func nonFiniteInputNamesLeadAndSample() throws {
        let conditioner = try WindowConditioner(spec: Reference.defaultModelSpec(), leadCount: 12, sampleCount: 100)
        var window = [Float](repeating: 0.1, count: 1200)
        window[4 * 100 + 37] = .nan
        window[7 * 100 + 3] = .infinity  // later in lead-major order: lead 4 is reported
        var output = [Float](repeating: 42, count: 1200)
        let error = #expect(throws: SignalError.self) {
            try window.withUnsafeBufferPointer { src in
                try output.withUnsafeMutableBufferPointer { try conditioner.condition(src, into: $0) }
            }
        }
        guard case .nonFiniteSample(lead: 4, sample: 37, let value)? = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(value.isNaN)
        #expect(error?.description == "ECG signal has a non-finite value (nan) at lead 4, sample 37")
        #expect(output.allSatisfy { $0 == 42 }, "output untouched on a throw")

        window[4 * 100 + 37] = 0
        let inf = #expect(throws: SignalError.self) { try conditioner.condition(window) }
        #expect(inf?.description == "ECG signal has a non-finite value (inf) at lead 7, sample 3")
    }

    @Test func tooShortAndBadShapes() throws {
        let spec = try Reference.defaultModelSpec()
        let short = #expect(throws: SignalError.self) { try WindowConditioner(spec: spec, leadCount: 12, sampleCount: 15) }
        #expect(short == .signalTooShort(samples: 15, minimum: 16))
        #expect(short?.description == "ECG window has 15 samples; the conditioning chain needs at least 16")
        _ = try WindowConditioner(spec: spec, leadCount: 12, sampleCount: 16)

        #expect(throws: SignalError.invalidShape(leadCount: 0, sampleCount: 100)) {
            try WindowConditioner(spec: spec, leadCount: 0, sampleCount: 100)
        }
        let conditioner = try WindowConditioner(spec: spec, leadCount: 2, sampleCount: 20)
        let wrongInput = #expect(throws: SignalError.self) { try conditioner.condition([Float](repeating: 0, count: 39)) }
        #expect(wrongInput == .bufferSizeMismatch(buffer: "input", expected: 40, actual: 39))
        #expect(wrongInput?.description == "input buffer holds 39 values; expected 40")
        let input = [Float](repeating: 0, count: 40)
        var output = [Double](repeating: 0, count: 41)
        #expect(throws: SignalError.bufferSizeMismatch(buffer: "output", expected: 40, actual: 41)) {
            try input.withUnsafeBufferPointer { src in
                try output.withUnsafeMutableBufferPointer { try conditioner.conditionFloat64(src, into: $0) }
            }
        }
    }

    @Test func specErrorsAreSpecific() throws {
        let good = try Reference.defaultModelSpec()
        func failure(_ edit: (inout ConditioningSpec) -> Void) -> SignalError? {
            var spec = good
            edit(&spec)
            return #expect(throws: SignalError.self) { try WindowConditioner(spec: spec, leadCount: 12, sampleCount: 2500) }
        }
        let unknown = failure { $0.settings.chain[2] = "savgol_mirror" }
        #expect(unknown?.description == "unknown conditioning step \"savgol_mirror\" in the model's preprocessing chain "
            + "(this runtime implements butterworth_highpass_sosfiltfilt, iirnotch_filtfilt, savgol_interp, zscore)")
        let order = failure { $0.settings.chain.swapAt(0, 1) }
        #expect(order == .conditioningChainMismatch(
            chain: ["iirnotch_filtfilt", "butterworth_highpass_sosfiltfilt", "savgol_interp", "zscore"],
            expected: ["butterworth_highpass_sosfiltfilt", "iirnotch_filtfilt", "savgol_interp", "zscore"]))
        let noNotch = failure { $0.settings.mainsHz = nil }
        #expect(noNotch?.description.hasPrefix("preprocessing chain [butterworth_highpass_sosfiltfilt, iirnotch_filtfilt,") == true)
        #expect(failure { $0.settings.zscore = "per_beat" }
            == .invalidConditioningSpec(field: "config.zscore", problem: "is \"per_beat\"; expected one of per_lead, per_recording"))
        #expect(failure { $0.settings.zscoreEps = 0 }
            == .invalidConditioningSpec(field: "config.zscore_eps", problem: "must be positive and finite, got 0.0"))
        #expect(failure { $0.highpassSOS[1].removeLast() }
            == .invalidConditioningSpec(field: "highpass_sos", problem: "row 1 has 5 values; expected 6"))
        #expect(failure { $0.highpassSOS[0][3] = 2 }
            == .invalidConditioningSpec(field: "highpass_sos", problem: "row 0 has a0 = 2.0; sosfilt needs a0 = 1"))
        #expect(failure { $0.highpassSOS.removeLast() }
            == .invalidConditioningSpec(field: "highpass_sos", problem: "has 1 sections; an order-4 Butterworth has 2"))
        #expect(failure { $0.highpassZi.removeLast() }
            == .invalidConditioningSpec(field: "highpass_zi", problem: "must hold one [z0, z1] pair per section (2 sections)"))
        #expect(failure { $0.highpassPadlen = 12 }
            == .invalidConditioningSpec(field: "highpass_padlen", problem: "is 12; sosfiltfilt pads by 15 for these sections"))
        #expect(failure { $0.highpassSOS[0][1] = .nan }
            == .invalidConditioningSpec(field: "highpass_sos row 0", problem: "has a non-finite value (nan) at index 1"))
        #expect(failure { $0.notchZi = nil }
            == .invalidConditioningSpec(field: "notch_b, notch_a, notch_zi, notch_padlen", problem: "must all be set when the chain has the notch"))
        #expect(failure { $0.notchB = [1, 2] }
            == .invalidConditioningSpec(field: "notch_b/notch_a", problem: "have 2 and 3 taps; expected 3 each"))
        #expect(failure { $0.notchA![0] = 0.5 }
            == .invalidConditioningSpec(field: "notch_a", problem: "has a0 = 0.5; expected 1"))
        #expect(failure { $0.notchPadlen = 6 }
            == .invalidConditioningSpec(field: "notch_padlen", problem: "is 6; filtfilt pads a 3-tap filter by 9"))
        #expect(failure { $0.savgolCoeffs.removeLast() }
            == .invalidConditioningSpec(field: "savgol_coeffs", problem: "has 14 values; expected savgol_window = 15"))
        #expect(failure { $0.savgolEdgeRight.removeLast() }
            == .invalidConditioningSpec(field: "savgol_edge_right", problem: "must be 7 rows x 15 columns"))
        #expect(failure { $0.settings.savgolWindow = 14 }
            == .invalidConditioningSpec(field: "config.savgol_window", problem: "must be odd and at least 3, got 14"))
        #expect(failure { $0.minLength = 15 }
            == .invalidConditioningSpec(field: "min_length", problem: "is 15; the pad lengths and window need 16"))
        let stale = failure { $0.settings.mainsHz = nil; $0.settings.chain.remove(at: 1) }
        #expect(stale?.description == "invalid preprocessing spec: notch_b, notch_a, notch_zi, notch_padlen "
            + "must be null when the notch is off (mains_hz null)")
    }

    // MARK: - Allocation contract

    /// `condition` and `conditionFloat64` make no heap allocation. Counted with the process-wide
    /// malloc counter (CVentriqAllocationCounter), which the package's test binary links (other
    /// test targets depend on it; this one may not, so its C functions are bound by symbol name
    /// below). Other tests may allocate on other threads meanwhile, so the call is measured
    /// several times and the fewest allocations seen must be zero: an allocation made by the call
    /// itself would show in every try.
    @Test(.enabled(if: AllocationCounter.available() == 1, "malloc interposition needs glibc"))
    func conditionDoesNotAllocate() throws {
        let start = AllocationCounter.start, stop = AllocationCounter.stop
        let allocations = AllocationCounter.allocations
        // The counter sees allocations at all: the array-returning convenience makes one.
        let probe = try WindowConditioner(spec: Reference.defaultModelSpec(), leadCount: 1, sampleCount: 100)
        let probeInput = [Float](repeating: 0.5, count: 100)
        start()
        let probeOutput = try probe.condition(probeInput)
        stop()
        #expect(allocations() >= 1 && probeOutput.count == 100)
        for spec in [try Reference.defaultModelSpec(), try Reference.spec("mains_hz=None, zscore='per_recording'")] {
            let conditioner = try WindowConditioner(spec: spec, leadCount: 12, sampleCount: 2500)
            var rng = TestRandom(seed: 3)
            let input = (0 ..< 30000).map { _ in Float(rng.gaussian()) }
            var output = [Float](repeating: 0, count: 30000)
            var output64 = [Double](repeating: 0, count: 30000)
            var fewest = UInt64.max, fewest64 = UInt64.max
            try input.withUnsafeBufferPointer { src in
                try output.withUnsafeMutableBufferPointer { dst in
                    try output64.withUnsafeMutableBufferPointer { dst64 in
                        try conditioner.condition(src, into: dst)  // warm up
                        try conditioner.conditionFloat64(src, into: dst64)
                        for _ in 0 ..< 10 {
                            start()
                            try conditioner.condition(src, into: dst)
                            stop()
                            fewest = min(fewest, allocations())
                            start()
                            try conditioner.conditionFloat64(src, into: dst64)
                            stop()
                            fewest64 = min(fewest64, allocations())
                        }
                    }
                }
            }
            #expect(fewest == 0, "condition allocated \(fewest) times (\(spec.settings.zscore))")
            #expect(fewest64 == 0, "conditionFloat64 allocated \(fewest64) times (\(spec.settings.zscore))")
        }
    }
}

/// The allocation counter (per thread; see CVentriqAllocationCounter) under short names.
enum AllocationCounter {
    static func available() -> Int32 { vq_allocation_counter_available() }
    static func start() { vq_allocation_counter_start() }
    static func stop() { vq_allocation_counter_stop() }
    static func allocations() -> UInt64 { vq_allocation_counter_allocations() }
}
