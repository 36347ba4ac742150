import CVentriqKernels
import Foundation
import Testing

// LayerNorm, softmax, GELU / erf / exp, residual add and mean pooling: every supported table
// (the scalar reference included, so the float formulas themselves are checked) against the
// same formula in double precision, with the bounds of `Bound`, plus bit-exact comparisons
// where the kernels promise them and hand-computed golden tables.

// MARK: - LayerNorm

/// Checks `isa`'s LayerNorm on x [rows, cols] (leading dimension ld) against double.
private func layerNormFailures(_ isa: KernelISA, rows: Int, cols: Int, ld: Int, x: FloatBuffer,
                               gamma: FloatBuffer, beta: FloatBuffer, eps: Float, inPlace: Bool) -> [String] {
    let y = inPlace ? x.copy() : FloatBuffer(count: rows * ld, repeating: 777)
    let source = inPlace ? y : x
    isa.table.layernorm!(Int32(rows), Int32(cols), source.pointer, Int32(ld), gamma.pointer, beta.pointer, eps,
                         y.pointer, Int32(ld))
    var out: [String] = []
    for r in 0..<rows {
        var mean = 0.0, meanAbs = 0.0, variance = 0.0
        for j in 0..<cols {
            mean += Double(x[r * ld + j])
            meanAbs += abs(Double(x[r * ld + j]))
        }
        mean /= Double(cols)
        meanAbs /= Double(cols)
        for j in 0..<cols { variance += (Double(x[r * ld + j]) - mean) * (Double(x[r * ld + j]) - mean) }
        variance /= Double(cols)
        let rstd = 1 / (variance + Double(eps)).squareRoot()
        for j in 0..<cols {
            let xv = Double(x[r * ld + j]), g = Double(gamma[j]), b = Double(beta[j])
            let exact = (xv - mean) * rstd * g + b
            let tol = Bound.layerNorm(cols: cols, x: xv, mean: mean, meanAbs: meanAbs, rstd: rstd, gamma: g, beta: b,
                                      y: exact)
            if !(abs(Double(y[r * ld + j]) - exact) <= tol) {
                out.append("\(isa) layernorm \(rows)x\(cols): y[\(r),\(j)] = \(y[r * ld + j]), exact \(exact), bound \(tol)")
                if out.count >= 3 { return out }
            }
        }
        for j in cols..<ld where y[r * ld + j].bitPattern != (inPlace ? x[r * ld + j] : Float(777)).bitPattern {
            out.append("\(isa) layernorm \(rows)x\(cols) wrote the padding at [\(r),\(j)]")
            return out
        }
    }
    return out
}

@Suite("Row kernels")
struct RowKernelTests {
    @Test("LayerNorm vs double: shapes, strides, offsets, in place", arguments: [
        (300, 96, 0), (1, 1, 0), (2, 2, 1), (3, 7, 2), (5, 8, 0), (4, 15, 1), (4, 16, 0), (4, 17, 3), (3, 33, 0),
        (2, 67, 5), (2, 384, 0), (1, 100, 4),
    ])
    func layerNorm(shape: (Int, Int, Int)) {
        let (rows, cols, pad) = shape
        let ld = cols + pad
        var rng = KernelSeed.generator(UInt64(5000 + rows * 1000 + cols * 10 + pad))
        let gamma = FloatBuffer(random: cols, in: -2...2, using: &rng)
        let beta = FloatBuffer(random: cols, in: -1...1, using: &rng)
        // (offset, spread, eps, in place): centred; offset 100 (the mean's rounding matters);
        // huge (1e15) and small (1e-3) spreads; torch's default eps and the ViT's 1e-6.
        for (offset, spread, eps, inPlace) in [(0.0, 1.0, Float(1e-6), false), (100.0, 1.0, 1e-5, true),
                                               (0.0, 1e15, 1e-6, false), (-3.0, 1e-3, 1e-6, true)] {
            let x = FloatBuffer(random: rows * ld, in: (offset - spread)...(offset + spread), using: &rng)
            for isa in KernelISA.supported {
                let bad = layerNormFailures(isa, rows: rows, cols: cols, ld: ld, x: x, gamma: gamma, beta: beta,
                                            eps: eps, inPlace: inPlace)
                #expect(bad.isEmpty, "\(bad.joined(separator: "\n")) [offset \(offset), spread \(spread), \(KernelSeed.note)]")
            }
        }
    }

    @Test("LayerNorm: every width 1...67")
    func layerNormWidths() {
        var rng = KernelSeed.generator(5999)
        for cols in 1...67 {
            let gamma = FloatBuffer(random: cols, in: 0.5...1.5, using: &rng)
            let beta = FloatBuffer(random: cols, in: -0.5...0.5, using: &rng)
            let x = FloatBuffer(random: 3 * (cols + 1), in: -4...6, using: &rng)
            for isa in KernelISA.supported {
                let bad = layerNormFailures(isa, rows: 3, cols: cols, ld: cols + 1, x: x, gamma: gamma, beta: beta,
                                            eps: 1e-6, inPlace: cols % 2 == 0)
                #expect(bad.isEmpty, "\(bad.joined(separator: "\n")) [\(KernelSeed.note)]")
            }
        }
    }

    @Test("LayerNorm golden: mean 5, population variance 4 gives (x - 5) / 2 exactly")
    func layerNormGolden() {
        let x = FloatBuffer([2, 4, 4, 4, 5, 5, 7, 9])
        let ones = FloatBuffer(count: 8, repeating: 1), zeros = FloatBuffer(count: 8)
        let gamma = FloatBuffer([2, 2, 2, 2, 1, 1, 0.5, 0.5]), beta = FloatBuffer([1, 1, 1, 1, 0, 0, -1, -1])
        for isa in KernelISA.supported {
            let y = FloatBuffer(count: 8)
            isa.table.layernorm!(1, 8, x.pointer, 8, ones.pointer, zeros.pointer, 0, y.pointer, 8)
            #expect(y.array == [-1.5, -0.5, -0.5, -0.5, 0, 0, 1, 2], "\(isa)")
            isa.table.layernorm!(1, 8, x.pointer, 8, gamma.pointer, beta.pointer, 0, y.pointer, 8)
            #expect(y.array == [-2, 0, 0, 0, 0, 0, -0.5, 0], "\(isa) with gamma, beta")
            // a constant row with eps: x - mean = 0, so y = beta
            let c = FloatBuffer(count: 8, repeating: 3.25)
            isa.table.layernorm!(1, 8, c.pointer, 8, gamma.pointer, beta.pointer, 1e-5, c.pointer, 8)
            #expect(c.array == beta.array, "\(isa) constant row")
        }
    }

    // MARK: - Softmax

    private func softmaxFailures(_ isa: KernelISA, rows: Int, cols: Int, ld: Int, x: FloatBuffer) -> [String] {
        let y = x.copy()
        isa.table.softmax_rows!(Int32(rows), Int32(cols), y.pointer, Int32(ld))
        var out: [String] = []
        for r in 0..<rows {
            var m = -Float.infinity
            for j in 0..<cols { m = max(m, x[r * ld + j]) }
            var sum = 0.0
            for j in 0..<cols { sum += Foundation.exp(Double(x[r * ld + j] - m)) }
            var total = 0.0
            for j in 0..<cols {
                let d = Double(x[r * ld + j] - m) // the rounded difference, as the kernels see it
                let exact = Foundation.exp(d) / sum
                total += Double(y[r * ld + j])
                if !(abs(Double(y[r * ld + j]) - exact) <= Bound.softmax(cols: cols, d: d, p: exact)) {
                    out.append("\(isa) softmax \(rows)x\(cols): y[\(r),\(j)] = \(y[r * ld + j]), exact \(exact)")
                    if out.count >= 3 { return out }
                }
            }
            if !(abs(total - 1) <= Double(2 * cols + 12) * unitRoundoff + Double(cols) * unitRoundoff) {
                out.append("\(isa) softmax \(rows)x\(cols): row \(r) sums to \(total)")
            }
            for j in cols..<ld where y[r * ld + j].bitPattern != x[r * ld + j].bitPattern {
                out.append("\(isa) softmax wrote the padding at [\(r),\(j)]")
                return out
            }
        }
        return out
    }

    @Test("softmax vs double: shapes, strides, spreads, masked entries", arguments: [
        (300, 300, 0), (1, 1, 0), (3, 7, 1), (5, 8, 0), (4, 15, 2), (4, 16, 0), (4, 17, 3), (2, 33, 0), (2, 67, 1),
        (1, 384, 0),
    ])
    func softmax(shape: (Int, Int, Int)) {
        let (rows, cols, pad) = shape
        let ld = cols + pad
        var rng = KernelSeed.generator(UInt64(6000 + rows * 1000 + cols * 10 + pad))
        // spread 100: most exponentials underflow, some into subnormals
        for (spread, masked) in [(1.0, false), (10.0, true), (100.0, false), (100.0, true)] {
            let x = FloatBuffer(random: rows * ld, in: -spread...spread, using: &rng)
            if masked {
                for r in 0..<rows { for j in stride(from: 1, to: cols, by: 3) { x[r * ld + j] = -.infinity } }
            }
            for isa in KernelISA.supported {
                let bad = softmaxFailures(isa, rows: rows, cols: cols, ld: ld, x: x)
                #expect(bad.isEmpty, "\(bad.joined(separator: "\n")) [spread \(spread), \(KernelSeed.note)]")
            }
        }
    }

    @Test("softmax: every width 1...67, shifted rows")
    func softmaxWidths() {
        var rng = KernelSeed.generator(6999)
        for cols in 1...67 {
            let x = FloatBuffer(random: 2 * (cols + 2), in: 1000...1010, using: &rng) // max subtraction matters
            for isa in KernelISA.supported {
                let bad = softmaxFailures(isa, rows: 2, cols: cols, ld: cols + 2, x: x)
                #expect(bad.isEmpty, "\(bad.joined(separator: "\n")) [\(KernelSeed.note)]")
            }
        }
    }

    @Test("softmax golden: equal entries share exactly, masked entries are exactly 0")
    func softmaxGolden() {
        for isa in KernelISA.supported {
            let x = FloatBuffer([3, 3, 3, 3, -.infinity, 7, -.infinity, 7, 7, 7, -1, -1, -1, -1, -1])
            isa.table.softmax_rows!(3, 5, x.pointer, 5)
            #expect(x.array == [0.25, 0.25, 0.25, 0.25, 0, 0.25, 0, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2], "\(isa)")
            let one = FloatBuffer([-42])
            isa.table.softmax_rows!(1, 1, one.pointer, 1)
            #expect(one[0] == 1, "\(isa) single entry")
        }
    }

    // MARK: - erf, GELU, exp

    /// A dense grid over [-10, 10] (step ~2e-5), random points, and special values.
    private static func unaryInputs(_ rng: inout SplitMix64, grid: Int = 1_000_001) -> FloatBuffer {
        let specials: [Float] = [0, -0.0, 1, -1, 0.875, -0.875, 0.87499994, 0.87500006, 3.9, 4, -4, 4.0000005, 10,
                                 -10, 1e-30, -1e-30, .leastNormalMagnitude / 1024, -.leastNormalMagnitude / 1024, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                                 -.greatestFiniteMagnitude]
        var values: [Float] = (0..<grid).map { (i: Int) -> Float in Float(-10 + 20 * Double(i) / Double(grid - 1)) }
        for _ in 0..<20_000 { values.append(rng.float(-6...6)) }
        values.append(contentsOf: specials)
        return FloatBuffer(values)
    }

    @Test("erf vs libm erff and exact erf: max abs error <= 2e-7 over [-10, 10]")
    func erf() {
        var rng = KernelSeed.generator(7000)
        let x = Self.unaryInputs(&rng)
        let reference = x.copy()
        vq_ref_erf(Int32(x.count), reference.pointer)
        for isa in KernelISA.supported {
            let y = x.copy()
            isa.table.erf!(Int32(y.count), y.pointer)
            var worst = 0.0, worstAt: Float = 0, bad: [String] = []
            for i in 0..<x.count {
                let d = abs(Double(y[i]) - Double(reference[i])), dx = abs(Double(y[i]) - Foundation.erf(Double(x[i])))
                if d > worst { (worst, worstAt) = (d, x[i]) }
                if !(d <= Bound.erfAbsolute && dx <= Bound.erfAbsolute) && bad.count < 3 {
                    bad.append("erf(\(x[i])) = \(y[i]), erff \(reference[i])")
                }
            }
            #expect(bad.isEmpty, "\(isa): \(bad) [\(KernelSeed.note)]")
            print("erf \(isa): largest |erf - erff| = \(worst) at \(worstAt)")
            // exact special values
            let s = FloatBuffer([0, -0.0, .infinity, -.infinity, 4, -4, 100, .nan])
            isa.table.erf!(Int32(s.count), s.pointer)
            #expect(s[0].bitPattern == Float(0).bitPattern && s[1].bitPattern == (-Float(0)).bitPattern, "\(isa) erf(+-0)")
            #expect(Array(s.array[2..<7]) == [1, -1, 1, -1, 1], "\(isa) erf saturates")
            #expect(s[7].isNaN, "\(isa) erf(NaN)")
        }
    }

    @Test("GELU vs the reference and exact 0.5 x (1 + erf(x / sqrt 2))")
    func gelu() {
        var rng = KernelSeed.generator(7100)
        let x = Self.unaryInputs(&rng, grid: 400_001)
        let reference = x.copy()
        vq_ref_gelu_erf(Int32(x.count), reference.pointer)
        for isa in KernelISA.supported {
            let y = x.copy()
            isa.table.gelu_erf!(Int32(y.count), y.pointer)
            var bad: [String] = []
            for i in 0..<x.count {
                let xv = Double(x[i])
                let exact = 0.5 * xv * (1 + Foundation.erf(xv / 2.0.squareRoot()))
                let tol = Bound.gelu(x: xv, y: exact)
                let ok = abs(Double(y[i]) - exact) <= tol && abs(Double(y[i]) - Double(reference[i])) <= tol
                if !ok && bad.count < 3 { bad.append("gelu(\(x[i])) = \(y[i]), reference \(reference[i]), exact \(exact)") }
            }
            #expect(bad.isEmpty, "\(isa): \(bad) [\(KernelSeed.note)]")
            let s = FloatBuffer([0, -0.0, 20, -20, .infinity, -.infinity, .nan, 1])
            isa.table.gelu_erf!(Int32(s.count), s.pointer)
            #expect(s[0] == 0 && s[2] == 20 && s[3] == 0 && s[4] == .infinity, "\(isa) GELU saturates: \(s.array)")
            #expect(s[5].isNaN && s[6].isNaN, "\(isa) GELU(-inf) = -inf * 0 and GELU(NaN) are NaN, as torch")
            #expect(abs(Double(s[7]) - 0.8413447460685429) <= 2e-7, "\(isa) GELU(1) = Phi(1)")
        }
    }

    @Test("exp vs exact: 2 ulp over its range, subnormal results, overflow, NaN")
    func exp() {
        let grid = 400_001
        var values: [Float] = (0..<grid).map { (i: Int) -> Float in Float(-110 + 200 * Double(i) / Double(grid - 1)) }
        values.append(contentsOf: [0, -0.0, 88.72283, 88.722839, -87.33655, -103.9, -104, -150, .infinity, -.infinity,
                                   .leastNormalMagnitude / 1024] as [Float])
        let x = FloatBuffer(values)
        for isa in KernelISA.supported {
            let y = x.copy()
            isa.table.exp!(Int32(y.count), y.pointer)
            var bad: [String] = []
            for i in 0..<x.count {
                let exact = Foundation.exp(Double(x[i]))
                let ok = exact > Double(Float.greatestFiniteMagnitude)
                    ? y[i] == .infinity : abs(Double(y[i]) - exact) <= Bound.exp(y: exact)
                if !ok && bad.count < 3 { bad.append("exp(\(x[i])) = \(y[i]), exact \(exact)") }
            }
            #expect(bad.isEmpty, "\(isa): \(bad)")
            let s = FloatBuffer([.nan, 0, -.infinity])
            isa.table.exp!(3, s.pointer)
            #expect(s[0].isNaN && s[1] == 1 && s[2] == 0, "\(isa) exp specials")
        }
    }

    // MARK: - add, mean_rows

    @Test("add: every length 0...67 and a [300, 96] residual, in place too: the reference's bits")
    func add() {
        var rng = KernelSeed.generator(8000)
        for n in Array(0...67) + [300 * 96] {
            let a = FloatBuffer(random: n, in: -1e3...1e3, using: &rng)
            let b = FloatBuffer(random: n, in: -1...1, using: &rng)
            let want = FloatBuffer(count: n)
            vq_ref_add(Int32(n), a.pointer, b.pointer, want.pointer)
            #expect((0..<n).allSatisfy { want[$0] == a[$0] + b[$0] })
            for isa in KernelISA.supported {
                let y = FloatBuffer(count: n)
                isa.table.add!(Int32(n), a.pointer, b.pointer, y.pointer)
                #expect(y.bitwiseEqual(want), "\(isa) add \(n)")
                let ya = a.copy(), yb = b.copy()
                isa.table.add!(Int32(n), ya.pointer, b.pointer, ya.pointer)
                isa.table.add!(Int32(n), a.pointer, yb.pointer, yb.pointer)
                #expect(ya.bitwiseEqual(want) && yb.bitwiseEqual(want), "\(isa) add in place \(n)")
                let twice = a.copy()
                isa.table.add!(Int32(n), twice.pointer, twice.pointer, twice.pointer)
                #expect((0..<n).allSatisfy { twice[$0] == 2 * a[$0] }, "\(isa) y = a + a in place")
            }
        }
    }

    @Test("mean over rows: the reference's bits on every ISA, within the bound of the exact mean",
          arguments: [(300, 96, 96), (1, 1, 1), (7, 67, 70), (33, 17, 40), (2, 5, 5), (300, 7, 9), (5, 16, 16)])
    func meanRows(shape: (Int, Int, Int)) {
        let (rows, cols, ld) = shape
        var rng = KernelSeed.generator(UInt64(9000 + rows * 100 + cols))
        let x = FloatBuffer(random: rows * ld, in: -3...5, using: &rng)
        let reference = FloatBuffer(count: cols)
        vq_ref_mean_rows(Int32(rows), Int32(cols), x.pointer, Int32(ld), reference.pointer)
        for j in 0..<cols {
            var sum = 0.0, sumAbs = 0.0
            for i in 0..<rows {
                sum += Double(x[i * ld + j])
                sumAbs += abs(Double(x[i * ld + j]))
            }
            #expect(abs(Double(reference[j]) - sum / Double(rows)) <= Bound.mean(rows: rows, sumAbs: sumAbs),
                    "column \(j)")
        }
        for isa in KernelISA.supported {
            let y = FloatBuffer(count: cols + 1, repeating: 55)
            isa.table.mean_rows!(Int32(rows), Int32(cols), x.pointer, Int32(ld), y.pointer)
            #expect(Array(y.array.prefix(cols)).map(\.bitPattern) == reference.array.map(\.bitPattern),
                    "\(isa) differs from the reference at \(y.differingIndices(reference).prefix(3))")
            #expect(y[cols] == 55, "\(isa) wrote past y")
        }
    }

    @Test("mean over rows golden")
    func meanRowsGolden() {
        let x = FloatBuffer([1, 2, 3, 4, 5, 6, -1, -2, -3])
        for isa in KernelISA.supported {
            let y = FloatBuffer(count: 3)
            isa.table.mean_rows!(2, 3, x.pointer, 3, y.pointer)
            #expect(y.array == [2.5, 3.5, 4.5], "\(isa)")
            isa.table.mean_rows!(3, 2, x.pointer, 3, y.pointer)
            // 3 rows of 2 columns at stride 3: (1 + 4 - 1) / 3 and (2 + 5 - 2) / 3, sums exact
            #expect(y[0] == Float(4) / Float(3) && y[1] == Float(5) / Float(3), "\(isa) strided")
        }
    }
}
