import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// The interior convolution against `scipy.ndimage.convolve1d` (what `savgol_filter` calls) for
/// the three evaluation orders ndimage picks: symmetric, anti-symmetric and general kernels.
@Suite struct SavitzkyGolayTests {
    @Test func interiorMatchesNdimageBitForBit() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-savgol")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python("""
            import sys
            import numpy as np
            from scipy import ndimage
            from scipy.signal import savgol_coeffs
            out = sys.argv[1]
            rng = np.random.default_rng(31)
            x = rng.standard_normal(400) * 2 + np.linspace(-1, 3, 400)
            x.tofile(f'{out}/x.f64')
            kernels = {
                'symmetric': savgol_coeffs(15, 3),
                'antisymmetric': savgol_coeffs(11, 3, deriv=1),
                'general': rng.standard_normal(9),
            }
            for name, c in kernels.items():
                c = np.asarray(c, dtype=np.float64)
                c.tofile(f'{out}/{name}.c.f64')
                ndimage.convolve1d(x, c, mode='constant').tofile(f'{out}/{name}.y.f64')
            """, [dir.path])
        let x = try Reference.doubles(dir.appendingPathComponent("x.f64"))
        let expectedKinds: [String: SavitzkyGolay.Symmetry] = [
            "symmetric": .symmetric, "antisymmetric": .antisymmetric, "general": .general,
        ]
        for (name, kind) in expectedKinds {
            let c = try Reference.doubles(dir.appendingPathComponent("\(name).c.f64"))
            let expected = try Reference.doubles(dir.appendingPathComponent("\(name).y.f64"))
            let w = c.count, h = w / 2
            let zeros = [Double](repeating: 0, count: h * w)
            var y = [Double](repeating: .nan, count: x.count)
            c.withUnsafeBufferPointer { cp in
                zeros.withUnsafeBufferPointer { z in
                    let filter = SavitzkyGolay(window: w, coefficients: cp.baseAddress!, left: z.baseAddress!, right: z.baseAddress!)
                    #expect(filter.symmetry == kind, "\(name)")
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { filter.apply(xp.baseAddress!, count: x.count, into: $0.baseAddress!) }
                    }
                }
            }
            let mismatches = (h ..< x.count - h).filter { y[$0].bitPattern != expected[$0].bitPattern }.count
            #expect(mismatches == 0, "\(name): \(mismatches) interior samples differ from ndimage")
        }
    }

    /// The edge maps reproduce `savgol_filter`'s polynomial fits at both ends.
    @Test func edgesMatchSavgolFilter() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-savgol-edges")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python("""
            import sys
            import numpy as np
            from scipy.signal import savgol_filter
            rng = np.random.default_rng(32)
            x = rng.standard_normal(60) + np.linspace(0, 5, 60) ** 2
            x.tofile(sys.argv[1] + '/x.f64')
            savgol_filter(x, 15, 3).tofile(sys.argv[1] + '/y.f64')
            """, [dir.path])
        let spec = try Reference.defaultModelSpec()  // savgol 15 / 3
        let x = try Reference.doubles(dir.appendingPathComponent("x.f64"))
        let expected = try Reference.doubles(dir.appendingPathComponent("y.f64"))
        let left = spec.savgolEdgeLeft.flatMap { $0 }, right = spec.savgolEdgeRight.flatMap { $0 }
        var y = [Double](repeating: .nan, count: x.count)
        spec.savgolCoeffs.withUnsafeBufferPointer { c in
            left.withUnsafeBufferPointer { l in
                right.withUnsafeBufferPointer { r in
                    let filter = SavitzkyGolay(window: 15, coefficients: c.baseAddress!, left: l.baseAddress!, right: r.baseAddress!)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { filter.apply(xp.baseAddress!, count: x.count, into: $0.baseAddress!) }
                    }
                }
            }
        }
        let scale = expected.map(abs).max()!
        let edgeError = (Array(0 ..< 7) + Array(53 ..< 60)).map { abs(y[$0] - expected[$0]) }.max()!
        #expect(edgeError <= 1e-13 * scale, "edge error \(edgeError) at scale \(scale)")
        #expect((7 ..< 53).allSatisfy { y[$0].bitPattern == expected[$0].bitPattern })
    }

    /// The four-lane `apply` (leads interleaved) gives each lane the bits of the scalar `apply` on
    /// that lane's lead, for the three evaluation orders, edges included, with an even and an odd
    /// number of interior outputs (the symmetric loop takes two at a time).
    @Test(arguments: [50, 51])
    func lanesMatchScalarBitForBit(_ n: Int) {
        var rng = TestRandom(seed: 33)
        let w = 9, h = w / 2
        let half = (0 ..< h).map { _ in rng.gaussian() }
        let kernels: [(SavitzkyGolay.Symmetry, [Double])] = [
            (.symmetric, half.reversed() + [rng.gaussian()] + half),
            (.antisymmetric, half.reversed().map { -$0 } + [0] + half),
            (.general, (0 ..< w).map { _ in rng.gaussian() }),
        ]
        let left = (0 ..< h * w).map { _ in rng.gaussian() }, right = (0 ..< h * w).map { _ in rng.gaussian() }
        let rows = (0 ..< 4).map { _ in (0 ..< n).map { _ in rng.gaussian() * 3 + 1 } }
        let interleaved = (0 ..< n).map { k in LeadLanes(rows[0][k], rows[1][k], rows[2][k], rows[3][k]) }
        for (kind, c) in kernels {
            c.withUnsafeBufferPointer { cp in
                left.withUnsafeBufferPointer { l in
                    right.withUnsafeBufferPointer { r in
                        let filter = SavitzkyGolay(window: w, coefficients: cp.baseAddress!, left: l.baseAddress!, right: r.baseAddress!)
                        #expect(filter.symmetry == kind)
                        var expected = [Double](repeating: .nan, count: 4 * n), got = expected
                        for j in 0 ..< 4 {
                            rows[j].withUnsafeBufferPointer { xp in
                                expected.withUnsafeMutableBufferPointer { filter.apply(xp.baseAddress!, count: n, into: $0.baseAddress! + j * n) }
                            }
                        }
                        interleaved.withUnsafeBufferPointer { xp in
                            got.withUnsafeMutableBufferPointer { y in
                                let p = y.baseAddress!
                                filter.apply(xp.baseAddress!, count: n, into: LaneRows(r0: p, r1: p + n, r2: p + 2 * n, r3: p + 3 * n))
                            }
                        }
                        #expect(zip(got, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(kind), n = \(n)")
                    }
                }
            }
        }
    }
}
