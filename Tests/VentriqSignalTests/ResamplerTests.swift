import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// `Resampler` against `scipy.signal.resample_poly(x, up, down)` on float64 signals.
@Suite struct ResamplerTests {
    struct Rates: CustomTestStringConvertible, Sendable {
        var from: Double, to: Double, up: Int, down: Int
        var testDescription: String { "\(from) -> \(to) Hz" }
    }

    static let rates: [Rates] = [
        Rates(from: 250, to: 500, up: 2, down: 1),
        Rates(from: 1000, to: 500, up: 1, down: 2),
        Rates(from: 360, to: 500, up: 25, down: 18),
        Rates(from: 257, to: 500, up: 500, down: 257),
        Rates(from: 128, to: 500, up: 125, down: 32),
        Rates(from: 1024, to: 500, up: 125, down: 256),
        Rates(from: 400, to: 500, up: 5, down: 4),
        Rates(from: 500, to: 257, up: 257, down: 500),
        Rates(from: 100, to: 500, up: 5, down: 1),
        Rates(from: 999, to: 1000, up: 1000, down: 999),
    ]

    static let lengths = [1, 5, 37, 1000, 1001, 2500]

    /// One Python run (scipy's import dominates) writes every case; then each rate pair is checked.
    @Test func matchesScipy() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-resample")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pairs = "[" + Self.rates.map { "[\($0.up),\($0.down)]" }.joined(separator: ",") + "]"
        try Reference.python("""
            import sys, json
            import numpy as np
            from scipy.signal import resample_poly, firwin
            out, pairs, lengths = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
            for up, down in pairs:
                m = max(up, down)
                (firwin(20 * m + 1, 1.0 / m, window=('kaiser', 5.0)) * up).tofile(f'{out}/h{up}_{down}.f64')
                rng = np.random.default_rng(up * 1000 + down)
                for n in lengths:
                    t = np.arange(n)
                    x = rng.standard_normal(n) + 3 * np.sin(2 * np.pi * t / 97.0) + 1.5
                    x.tofile(f'{out}/x{up}_{down}_{n}.f64')
                    resample_poly(x, up, down).tofile(f'{out}/y{up}_{down}_{n}.f64')
            """, [dir.path, pairs, "[" + Self.lengths.map(String.init).joined(separator: ",") + "]"])

        for r in Self.rates {
            let resampler = try Resampler(fromHz: r.from, toHz: r.to)
            #expect(resampler.up == r.up && resampler.down == r.down, "\(r.testDescription)")
            #expect(resampler.filter.count == 20 * max(r.up, r.down) + 1)
            let tag = "\(r.up)_\(r.down)"
            let h = try Reference.doubles(dir.appendingPathComponent("h\(tag).f64"))
            let hScale = h.map(abs).max()!
            let hError = zip(h, resampler.filter).map { abs($0 - $1) }.max()!
            #expect(h.count == resampler.filter.count)
            #expect(hError <= 1e-14 * hScale, "\(r.testDescription): filter taps vs firwin: \(hError)")

            var worst = 0.0
            for n in Self.lengths {
                let x = try Reference.doubles(dir.appendingPathComponent("x\(tag)_\(n).f64"))
                let expected = try Reference.doubles(dir.appendingPathComponent("y\(tag)_\(n).f64"))
                #expect(resampler.outputCount(forInputCount: n) == expected.count, "\(r.testDescription) n=\(n)")
                let got = resampler.resample(x)
                #expect(got.count == expected.count, "\(r.testDescription) n=\(n)")
                let scale = expected.map(abs).max() ?? 1
                let error = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
                worst = max(worst, error / scale)
                #expect(error <= 1e-12 * scale, "\(r.testDescription) n=\(n): max |error| \(error), scale \(scale)")
            }
            print("resample \(r.testDescription) (\(r.up)/\(r.down)): filter max |d| \(hError), "
                + "output max |d| / max |y| \(worst)")
        }
    }

    @Test func equalRatesCopy() throws {
        let r = try Resampler(fromHz: 500, toHz: 500)
        #expect(r.up == 1 && r.down == 1 && r.filter.isEmpty)
        #expect(r.resample([1, 2, 3.5]) == [1, 2, 3.5])
    }

    @Test func float32AndLeadMajor() throws {
        let r = try Resampler(fromHz: 250, toHz: 500)
        var rng = TestRandom(seed: 4)
        let lead0 = (0 ..< 300).map { _ in rng.gaussian() }
        let lead1 = (0 ..< 300).map { _ in rng.gaussian() }
        let leads = (lead0 + lead1).map { Float($0) }
        let out = try r.resample(leads: leads, leadCount: 2)
        #expect(out.count == 2 * 600)
        let ref1 = r.resample(lead1.map { Double(Float($0)) })
        #expect(zip(out[600...], ref1).allSatisfy { $0 == Float($1) })
        var single = [Float](repeating: 0, count: 600)
        try leads.withUnsafeBufferPointer { x in
            try single.withUnsafeMutableBufferPointer { try r.resample(UnsafeBufferPointer(rebasing: x[0 ..< 300]), into: $0) }
        }
        #expect(single == Array(out[0 ..< 600]))
        #expect(throws: SignalError.bufferSizeMismatch(buffer: "resampler output", expected: 600, actual: 599)) {
            var short = [Float](repeating: 0, count: 599)
            try leads.withUnsafeBufferPointer { x in
                try short.withUnsafeMutableBufferPointer { try r.resample(UnsafeBufferPointer(rebasing: x[0 ..< 300]), into: $0) }
            }
        }
        #expect(throws: SignalError.invalidShape(leadCount: 7, sampleCount: 85)) { try r.resample(leads: leads, leadCount: 7) }
    }

    @Test func unsupportedRatesAreNamed() {
        func message(_ from: Double, _ to: Double) -> String? {
            let error = #expect(throws: SignalError.self) { try Resampler(fromHz: from, toHz: to) }
            return error?.description
        }
        #expect(message(0, 500) == "cannot resample from 0.0 Hz to 500.0 Hz: both rates must be positive and finite")
        #expect(message(-250, 500) == "cannot resample from -250.0 Hz to 500.0 Hz: both rates must be positive and finite")
        #expect(message(.nan, 500) == "cannot resample from nan Hz to 500.0 Hz: both rates must be positive and finite")
        #expect(message(250, .infinity) == "cannot resample from 250.0 Hz to inf Hz: both rates must be positive and finite")
        #expect(message(1001, 500) == "cannot resample from 1001.0 Hz to 500.0 Hz: the rate ratio reduces to 500/1001; "
            + "up and down must be at most 1000")
        #expect(message(499.7, 500) == "cannot resample from 499.7 Hz to 500.0 Hz: the rate ratio reduces to 5000/4997; "
            + "up and down must be at most 1000")
        #expect(message(333.333, 500)?.hasPrefix("cannot resample from 333.333 Hz to 500.0 Hz: the rate ratio reduces to 500000/333333") == true)
        // An irrational ratio: the first fraction within the 1e-9 tolerance is named.
        #expect(message(Double.pi * 100, 500) == "cannot resample from 314.1592653589793 Hz to 500.0 Hz: the rate ratio "
            + "reduces to 165849/104206; up and down must be at most 1000")
        #expect(message(1e-7, 500) == "cannot resample from 1e-07 Hz to 500.0 Hz: the rate ratio 5000000000.0 "
            + "is not a fraction up/down with up and down at most 1000")
        // The limit itself is accepted.
        #expect((try? Resampler(fromHz: 999, toHz: 1000))?.up == 1000)
    }

    @Test(.enabled(if: AllocationCounter.available() == 1, "malloc interposition needs glibc"))
    func resampleIntoBufferDoesNotAllocate() throws {
        let r = try Resampler(fromHz: 360, toHz: 500)
        var rng = TestRandom(seed: 8)
        let x = (0 ..< 3600).map { _ in Float(rng.gaussian()) }
        let x64 = x.map(Double.init)
        var y = [Float](repeating: 0, count: r.outputCount(forInputCount: 3600))
        var y64 = [Double](repeating: 0, count: y.count)
        var fewest = UInt64.max
        try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                try x64.withUnsafeBufferPointer { xp64 in
                    try y64.withUnsafeMutableBufferPointer { yp64 in
                        try r.resample(xp, into: yp)
                        try r.resample(xp64, into: yp64)
                        for _ in 0 ..< 5 {
                            AllocationCounter.start()
                            try r.resample(xp, into: yp)
                            try r.resample(xp64, into: yp64)
                            AllocationCounter.stop()
                            fewest = min(fewest, AllocationCounter.allocations())
                        }
                    }
                }
            }
        }
        #expect(fewest == 0)
        #expect(y.count == 5000 && zip(y, y64).allSatisfy { $0 == Float($1) })
    }
}
