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
}
