import CVentriqKernels
import Foundation
import Testing

// The int8 kernels (docs/QUANTIZATION.md). Their results are exact integers and single float32
// operations, so every ISA table must give the reference's bits, not just close values: each
// test compares every table this CPU runs with the reference byte for byte, and checks the
// reference itself against an independent statement of the same formulas (Int64 sums on the
// unpacked weight, requantization written as exact roundings instead of gemmlowp's code).

// MARK: - Independent formulations

/// vq_requantize stated as exact roundings: x = saturate(acc 2^left);
/// h = round-half-up(x m / 2^31) (INT32_MIN * INT32_MIN saturates to INT32_MAX);
/// result = round-half-away-from-zero(h / 2^right).
func exactRequantize(_ acc: Int32, _ m: Int32, _ shift: Int32) -> Int32 {
    let s = min(max(Int(shift), -31), 31)
    let left = max(s, 0), right = max(-s, 0)
    let x = min(max(Int64(acc) << left, Int64(Int32.min)), Int64(Int32.max))
    let h: Int64 = x == Int64(Int32.min) && m == Int32.min ? Int64(Int32.max) : (x * Int64(m) + (1 << 30)) >> 31
    if right == 0 { return Int32(h) }
    let d = Int64(1) << right, q = (abs(h) + d / 2) / d
    return Int32(h < 0 ? -q : q)
}

func clamp127(_ v: Int32) -> Int8 { Int8(min(max(v, -127), 127)) }

/// The float epilogue computed another way: both conversions through Double (a product of two
/// floats is exact in Double, so rounding it to Float is the correctly rounded float product).
func exactFloatOutput(_ acc: Int32, _ scale: Float) -> Float { Float(Double(Float(acc)) * Double(scale)) }

// MARK: - Problems

/// Activation distributions: uniform int8 (-128 included), only the extremes -128 / -127 / 127
/// (with weights +-127: the largest products), or small values.
enum QActivations: CaseIterable, Sendable { case uniform, extremes, small }

/// Bias: none, moderate, or any int32 (the accumulator then wraps, identically everywhere).
enum QBias: CaseIterable, Sendable { case none, moderate, wrapping }

/// One int8 GEMM: operands with strides (pad), packed weight, float scales and requantization
/// parameters; runs any table with C pre-filled with a sentinel (one extra row too).
final class QGemmProblem {
    let m: Int, n: Int, k: Int, lda: Int, ldc: Int
    let a: CBuffer<Int8>, w: CBuffer<Int8>, packed: CBuffer<Int8>
    let bias: CBuffer<Int32>?
    let scale: CBuffer<Float>, mult: CBuffer<Int32>, shift: CBuffer<Int32>
    var label: String { "qgemm \(m)x\(n)x\(k) (lda \(lda), ldc \(ldc), bias \(bias != nil))" }

    init(m: Int, n: Int, k: Int, pad: Int, a fillA: (Int) -> Int8, w fillW: (Int) -> Int8,
         bias fillBias: ((Int) -> Int32)?, scale fillScale: (Int) -> Float, requant: (Int) -> (Int32, Int32)) {
        self.m = m
        self.n = n
        self.k = k
        lda = k + pad
        ldc = n + pad
        a = CBuffer(count: m * lda, repeating: 0)
        for i in 0..<a.count { a[i] = fillA(i) }
        w = CBuffer(count: n * k, repeating: 0)
        for i in 0..<w.count { w[i] = fillW(i) }
        packed = CBuffer(count: vq_qgemm_packed_size(Int32(n), Int32(k)), repeating: 0x5A)
        vq_qgemm_pack(w.pointer, Int32(n), Int32(k), packed.pointer)
        if let fillBias {
            let b = CBuffer<Int32>(count: n, repeating: 0)
            for j in 0..<n { b[j] = fillBias(j) }
            bias = b
        } else {
            bias = nil
        }
        scale = CBuffer(count: n, repeating: 0)
        mult = CBuffer(count: n, repeating: 0)
        shift = CBuffer(count: n, repeating: 0)
        for j in 0..<n {
            scale[j] = fillScale(j)
            (mult[j], shift[j]) = requant(j)
        }
    }

    /// Random operands; requantization parameters as in `randomRequant`.
    convenience init(m: Int, n: Int, k: Int, pad: Int, activations: QActivations = .uniform, bias: QBias = .moderate,
                     realisticRequant: Bool = false, rng: inout SplitMix64) {
        var r = rng
        defer { rng = r }
        let extremes: [Int8] = [-128, -127, 127]
        let aValues = (0..<(m * (k + pad))).map { _ -> Int8 in
            switch activations {
            case .uniform: return Int8(r.int(-128...127))
            case .extremes: return extremes[r.int(0...2)]
            case .small: return Int8(r.int(-3...3))
            }
        }
        let wValues = (0..<(n * k)).map { _ in
            activations == .extremes ? Int8(r.int(0...1) == 0 ? -127 : 127) : Int8(r.int(-127...127))
        }
        let biasValues = (0..<n).map { _ in
            bias == .wrapping ? Int32(truncatingIfNeeded: r.next()) : Int32(r.int(-(1 << 20)...(1 << 20)))
        }
        let scales = (0..<n).map { _ in Float(Double(r.float(-1...1)) * pow(2, Double(r.int(-24...4)))) }
        let requants = (0..<n).map { j in randomRequant(column: j, realistic: realisticRequant, rng: &r) }
        self.init(m: m, n: n, k: k, pad: pad, a: { aValues[$0] }, w: { wValues[$0] },
                  bias: bias == .none ? nil : { biasValues[$0] }, scale: { scales[$0] }, requant: { requants[$0] })
    }

    func runF32(_ t: vq_kernel_table) -> CBuffer<Float> {
        let c = CBuffer<Float>(count: (m + 1) * ldc, repeating: -12345.678)
        t.qgemm_packed_f32!(Int32(m), Int32(n), Int32(k), a.pointer, Int32(lda), packed.pointer, bias?.pointer,
                            scale.pointer, c.pointer, Int32(ldc))
        return c
    }

    func runS8(_ t: vq_kernel_table) -> CBuffer<Int8> {
        let c = CBuffer<Int8>(count: (m + 1) * ldc, repeating: 0x55)
        t.qgemm_packed_s8!(Int32(m), Int32(n), Int32(k), a.pointer, Int32(lda), packed.pointer, bias?.pointer,
                           mult.pointer, shift.pointer, c.pointer, Int32(ldc))
        return c
    }

    /// acc[i, j] from Int64 sums on the unpacked weight, wrapped to Int32.
    func exactAccumulator(_ i: Int, _ j: Int) -> Int32 {
        var s = Int64(bias?[j] ?? 0)
        for kk in 0..<k { s += Int64(a[i * lda + kk]) * Int64(w[j * k + kk]) }
        return Int32(truncatingIfNeeded: s)
    }

    /// Problems: a table differing from the reference anywhere (the whole buffer, so writes
    /// outside C count), the reference writing outside C, or the reference disagreeing with the
    /// independent computation (on every `rowStep`-th row).
    func failures(rowStep: Int = 1) -> [String] {
        var out: [String] = []
        let reference = vq_kernels_table(VQ_ISA_REFERENCE)!.pointee
        let rf = runF32(reference), rq = runS8(reference)
        for idx in 0..<rf.count where idx / ldc >= m || idx % ldc >= n {
            if rf[idx] != -12345.678 || rq[idx] != 0x55 {
                out.append("reference \(label): wrote outside C at \(idx)")
                break
            }
        }
        for isa in KernelISA.simd {
            let cf = runF32(isa.table), cq = runS8(isa.table)
            if !cf.bytesEqual(rf) {
                let first = (0..<cf.count).first { cf[$0].bitPattern != rf[$0].bitPattern }!
                out.append("\(isa) \(label) float output: [\(first / ldc), \(first % ldc)] = \(cf[first]), reference \(rf[first])")
            }
            if !cq.bytesEqual(rq) {
                let first = (0..<cq.count).first { cq[$0] != rq[$0] }!
                out.append("\(isa) \(label) int8 output: [\(first / ldc), \(first % ldc)] = \(cq[first]), reference \(rq[first])")
            }
        }
        var bad = 0
        for i in stride(from: 0, to: m, by: rowStep) {
            for j in 0..<n {
                let acc = exactAccumulator(i, j)
                let wantF = exactFloatOutput(acc, scale[j]), wantQ = clamp127(exactRequantize(acc, mult[j], shift[j]))
                if rf[i * ldc + j].bitPattern != wantF.bitPattern || rq[i * ldc + j] != wantQ {
                    bad += 1
                    if bad <= 3 {
                        out.append("reference \(label) at [\(i), \(j)]: \(rf[i * ldc + j]) / \(rq[i * ldc + j]), "
                                   + "independent \(wantF) / \(wantQ) (acc \(acc))")
                    }
                }
            }
        }
        return out
    }

    func check(rowStep: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = failures(rowStep: rowStep)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n")) [\(KernelSeed.note)]",
                sourceLocation: sourceLocation)
    }
}

/// Requantization parameters of one column: realistic ones (vq_quantize_multiplier of
/// 2^-20 ... 2^4, so negative, zero and positive shifts), or a mix adding raw random multipliers
/// with shifts -40...40 (clamped to -31...31), saturating left shifts, and INT32_MIN / INT32_MAX.
func randomRequant(column j: Int, realistic: Bool, rng: inout SplitMix64) -> (Int32, Int32) {
    let pick = realistic ? 0 : rng.int(0...5)
    switch pick {
    case 0...2:
        var m: Int32 = 0, s: Int32 = 0
        vq_quantize_multiplier(Double.random(in: 0.5..<1, using: &rng) * pow(2, Double(rng.int(-20...4))), &m, &s)
        return (m, s)
    case 3: return (Int32(truncatingIfNeeded: rng.next()), Int32(rng.int(-40...40)))
    case 4: return (Int32(rng.int(1 << 30...Int(Int32.max))), Int32(rng.int(1...31)))
    default: return (j % 2 == 1 ? Int32.min : Int32.max, Int32(rng.int(-31...31)))
    }
}

// MARK: - Tests

@Suite("int8 kernels")
struct QuantizedKernelTests {
    @Test("packed layout: 16-column panels of 4-k groups (64 bytes), zero padding, column sums; sizes")
    func packLayout() {
        #expect(vq_qgemm_packed_size(1, 1) == 16 * 4 + 64)
        #expect(vq_qgemm_packed_size(16, 4) == 16 * 4 + 64)
        #expect(vq_qgemm_packed_size(17, 5) == 2 * (16 * 8 + 64))
        #expect(vq_qgemm_packed_size(96, 100) == 6 * (16 * 100 + 64))
        #expect(vq_qgemm_packed_size(3072, 3072) == 192 * (16 * 3072 + 64))
        #expect(vq_qgemm_packed_size(0, 5) == 0 && vq_qgemm_packed_size(5, 0) == 0)
        let n = 21, k = 7, panelBytes = 16 * 8 + 64
        let w = CBuffer<Int8>((0..<(n * k)).map { i in Int8((i / k * 37 + i % k * 11) % 255 - 127) })
        let p = CBuffer<Int8>(count: vq_qgemm_packed_size(Int32(n), Int32(k)), repeating: 0x5A)
        vq_qgemm_pack(w.pointer, Int32(n), Int32(k), p.pointer)
        var wrong: [String] = []
        for panel in 0..<2 {
            for g in 0..<2 {
                for j in 0..<16 {
                    for t in 0..<4 {
                        let col = panel * 16 + j, kk = 4 * g + t
                        let want: Int8 = col < n && kk < k ? w[col * k + kk] : 0
                        if p[panel * panelBytes + 64 * g + 4 * j + t] != want { wrong.append("panel \(panel) group \(g) column \(j) k \(t)") }
                    }
                }
            }
            for j in 0..<16 {
                let col = panel * 16 + j
                let want: Int32 = col < n ? (0..<k).reduce(0) { $0 + Int32(w[col * k + $1]) } : 0
                var got: Int32 = 0
                memcpy(&got, p.pointer + panel * panelBytes + 16 * 8 + 4 * j, 4)
                if got != want { wrong.append("column sum \(col): \(got), want \(want)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(5))")
    }

    /// Each case worked out by hand: SRDHM(x, m) = floor((x m + 2^30) / 2^31) (gemmlowp's nudge
    /// and truncating division come to round half up), then RoundingDivideByPOT rounds half away
    /// from zero.
    @Test("requantize: hand-computed goldens, saturation, TFLite's rounding of negatives")
    func requantizeGoldens() {
        let cases: [(Int32, Int32, Int32, Int32, String)] = [
            (100, 1 << 30, 0, 50, "x 0.5"),
            (101, 1 << 30, 0, 51, "50.5: SRDHM rounds half up"),
            (-101, 1 << 30, 0, -50, "-50.5: half up, toward +inf"),
            (-99, 1 << 30, 0, -49, "-49.5"),
            (12345, 1 << 30, 1, 12345, "1.0 = (2^30, 1)"),
            (3, Int32.max, -1, 2, "1.5 -> 2"),
            (-3, Int32.max, -1, -2, "-1.5 -> -2: RoundingDivideByPOT rounds half away from zero"),
            (-1, Int32.max, -1, -1, "-0.5 -> -1"),
            (1, Int32.max, -1, 1, "0.5 -> 1"),
            (-5, Int32.max, -2, -1, "-1.25"),
            (-6, Int32.max, -2, -2, "-1.5"),
            (-7, Int32.max, -2, -2, "-1.75"),
            (-2, Int32.max, -2, -1, "-0.5"),
            (-1, Int32.max, -2, 0, "-0.25"),
            (2, Int32.max, -2, 1, "0.5"),
            (Int32.min, Int32.min, 0, Int32.max, "the one SRDHM overflow saturates"),
            (1 << 30, 1 << 30, 2, 1 << 30, "2^32 saturates to INT32_MAX, then x 0.5"),
            (-(1 << 30), 1 << 30, 2, -(1 << 30), "-2^32 saturates to INT32_MIN, then x 0.5"),
            (-(1 << 29), 1 << 30, 2, -(1 << 30), "exactly INT32_MIN: no saturation"),
            (1, 1 << 30, 31, 1 << 30, "left shift 31: 2^31 saturates"),
            (1, 1 << 30, 40, 1 << 30, "shift clamped to 31"),
            (Int32.max, Int32.max, -31, 1, "2147483646 / 2^31 rounds up"),
            (Int32.max, Int32.max, -50, 1, "shift clamped to -31"),
            (100, -(1 << 30), 0, -50, "negative multiplier"),
            ((1 << 30) - 1, 1, 0, 0, "(2^30 - 1 + 2^30) / 2^31 < 1: the nudge's exact edge"),
            (1 << 30, 1, 0, 1, "(2^30 + 2^30) / 2^31 = 1"),
            (-(1 << 30), 1, 0, 0, "-0.5 rounds up to 0"),
            (-(1 << 30) - 1, 1, 0, -1, ""),
            (0, Int32.max, 5, 0, ""),
        ]
        for (acc, m, s, want, why) in cases {
            #expect(vq_requantize(acc, m, s) == want, "requantize(\(acc), \(m), \(s)): \(why)")
            #expect(exactRequantize(acc, m, s) == want, "independent form (\(acc), \(m), \(s))")
        }
    }

    @Test("requantize: gemmlowp's code equals the exact-rounding statement on edges and random arguments")
    func requantizeMatchesExactRounding() {
        var rng = KernelSeed.generator(5000)
        let accs: [Int32] = [0, 1, -1, 2, -2, 127, -128, 1 << 30, -(1 << 30), (1 << 30) - 1, Int32.max, Int32.min,
                             Int32.max - 1, Int32.min + 1, 16129 * 384, -16129 * 384]
        let mults: [Int32] = [0, 1, -1, 1 << 30, Int32.max, Int32.min, (1 << 30) + 1, 1_518_500_250]
        var bad: [String] = []
        for acc in accs {
            for m in mults {
                for s in Int32(-40)...40 where vq_requantize(acc, m, s) != exactRequantize(acc, m, s) {
                    bad.append("(\(acc), \(m), \(s))")
                }
            }
        }
        for i in 0..<50_000 {
            let acc = Int32(truncatingIfNeeded: rng.next()) >> Int32(rng.int(0...31))
            let m = i % 3 == 0 ? Int32(truncatingIfNeeded: rng.next()) : Int32(rng.int(1 << 30...Int(Int32.max)))
            let s = Int32(rng.int(-33...33))
            if vq_requantize(acc, m, s) != exactRequantize(acc, m, s) { bad.append("(\(acc), \(m), \(s))") }
        }
        #expect(bad.isEmpty, "\(bad.count) disagreements, e.g. \(bad.prefix(5)) [\(KernelSeed.note)]")
    }

    @Test("quantize_multiplier: TFLite goldens (carry, limits, invalid inputs) and the half-unit bound")
    func quantizeMultiplier() {
        let cases: [(Double, Int32, Int32, String)] = [
            (0.5, 1 << 30, 0, ""), (1.0, 1 << 30, 1, ""), (0.25, 1 << 30, -1, ""), (0.75, 1_610_612_736, 0, ""),
            (1.0 - 0x1p-40, 1 << 30, 1, "rounds up to 2^31: carry into the exponent"),
            (0.5 - 0x1p-42, 1 << 30, 0, "the same one binade down"),
            (0.3, 1_288_490_189, -1, "0.6 * 2^31 = 1288490188.8"),
            (0.5 + 0x1p-32, (1 << 30) + 1, 0, "a tie: llround rounds away from zero"),
            (0x1p-32, 1 << 30, -31, "smallest kept exponent"), (0x1p-33, 0, 0, "below: 0"),
            (0x1p29, 1 << 30, 30, "largest exponent"), (0x1p30, Int32.max, 30, "above: saturated"),
            (0, 0, 0, ""), (-0.5, 0, 0, "negative: invalid"), (.nan, 0, 0, "NaN: invalid"),
            (.infinity, Int32.max, 30, "+inf: saturated"),
        ]
        for (real, wantM, wantS, why) in cases {
            var m: Int32 = -7, s: Int32 = -7
            vq_quantize_multiplier(real, &m, &s)
            #expect(m == wantM && s == wantS, "quantize_multiplier(\(real)) = (\(m), \(s)), want (\(wantM), \(wantS)) \(why)")
        }
        var rng = KernelSeed.generator(5001)
        var bad: [String] = []
        for _ in 0..<20_000 {
            let r = Double.random(in: 0.5..<1, using: &rng) * pow(2, Double(rng.int(-30...30)))
            var m: Int32 = 0, s: Int32 = 0
            vq_quantize_multiplier(r, &m, &s)
            let back = Double(m) * pow(2, Double(s - 31))
            if !(m >= 1 << 30 && abs(back - r) <= pow(2, Double(s - 32))) { bad.append("\(r) -> (\(m), \(s))") }
        }
        #expect(bad.isEmpty, "\(bad.prefix(3)) [\(KernelSeed.note)]")
    }

    /// The Linear layers of the compact model: patch embedding (96, 100), qkv (288, 96),
    /// proj (96, 96), fc1 (384, 96), fc2 (96, 384), 300 tokens.
    @Test("real Linear shapes: every ISA gives the reference's bits", arguments: [
        (300, 96, 100), (300, 288, 96), (300, 96, 96), (300, 384, 96), (300, 96, 384),
    ])
    func realShapes(shape: (Int, Int, Int)) {
        var rng = KernelSeed.generator(UInt64(6000 + shape.1 * 1009 + shape.2))
        QGemmProblem(m: shape.0, n: shape.1, k: shape.2, pad: 0, realisticRequant: true, rng: &rng).check(rowStep: 7)
        QGemmProblem(m: shape.0, n: shape.1, k: shape.2, pad: 3, rng: &rng).check(rowStep: 13)
    }

    @Test("the bigger models: N and K up to 3072 (several column blocks, long K)")
    func bigShapes() {
        var rng = KernelSeed.generator(6500)
        QGemmProblem(m: 13, n: 3072, k: 3072, pad: 1, rng: &rng).check(rowStep: 6)
        QGemmProblem(m: 30, n: 70, k: 1100, pad: 5, rng: &rng).check(rowStep: 3)
    }

    /// Blocks of 4, 6 and 12 rows, 8, 16 and 32 columns and 4-k groups leave every remainder.
    @Test("odd sizes: M, N and K each swept over 1...67, with strides")
    func sweeps() {
        var rng = KernelSeed.generator(7000)
        for size in 1...67 {
            QGemmProblem(m: size, n: 19, k: 13, pad: size % 4, rng: &rng).check()
            QGemmProblem(m: 13, n: size, k: 11, pad: size % 3, bias: size % 2 == 0 ? .none : .moderate, rng: &rng).check()
            QGemmProblem(m: 14, n: 35, k: size, pad: size % 5, rng: &rng).check()
        }
    }

    @Test("random shapes, edge activations (-128, -127, 127), wrapping bias", arguments: QActivations.allCases)
    func randomShapes(activations: QActivations) {
        var rng = KernelSeed.generator(8000 + UInt64(QActivations.allCases.firstIndex(of: activations)!))
        for i in 0..<40 {
            QGemmProblem(m: rng.int(1...67), n: rng.int(1...67), k: rng.int(1...67), pad: rng.int(0...9),
                         activations: activations, bias: QBias.allCases[i % 3], rng: &rng).check()
        }
        QGemmProblem(m: rng.int(1...40), n: rng.int(1...70), k: rng.int(100...700), pad: 2, activations: activations,
                     bias: .wrapping, rng: &rng).check()
    }

    /// K = 1, A = 1, W = 1 and bias = acc - 1 make the accumulator any chosen int32, so the
    /// epilogues meet every edge: roundings of the int -> float conversion, saturations, the
    /// nudge's exact edge (multiplier +-1), INT32_MIN and INT32_MAX.
    @Test("epilogues on chosen accumulators, full and partial tiles")
    func epilogues() {
        let accs: [Int32] = [0, 1, -1, 2, -2, 3, -3, 5, -5, 6, -6, 7, -7, 127, -128, 255, -255, 1 << 24,
                             (1 << 24) + 1, -(1 << 24) - 1, (1 << 24) + 3, 16_777_217, 33_554_435, 1 << 30, -(1 << 30),
                             Int32.max, Int32.min + 1, Int32.min, 123_456_789, -987_654_321, (1 << 30) - 1,
                             -(1 << 30) - 1, (1 << 30) + 1, 3 << 29]
        var rng = KernelSeed.generator(9000)
        for rep in 0..<30 {
            let m = 26, n = accs.count
            let scales = (0..<n).map { _ in rep == 0 ? 1 : Float(Double(rng.float(-1...1)) * pow(2, Double(rng.int(-30...30)))) }
            var requants = (0..<n).map { j in randomRequant(column: j, realistic: rep % 2 == 0, rng: &rng) }
            if rep < 3 { requants = (0..<n).map { _ in (rep == 2 ? -1 : 1, rep == 1 ? 31 : 0) } }
            let p = QGemmProblem(m: m, n: n, k: 1, pad: 0, a: { _ in 1 }, w: { _ in 1 },
                                 bias: { Int32(truncatingIfNeeded: Int64(accs[$0]) - 1) }, scale: { scales[$0] },
                                 requant: { requants[$0] })
            p.check()
            if rep == 0 { // (float)acc rounds to nearest even
                let c = p.runF32(KernelISA.supported.last!.table)
                #expect(c[18] == 16_777_216 && c[20] == 16_777_220 && c[21] == 16_777_216 && c[22] == 33_554_436,
                        "int -> float: \(c[18]) \(c[20]) \(c[21]) \(c[22])")
            }
        }
    }

    @Test("golden products with -128 activations; K = 0 gives the bias; M or N = 0 writes nothing")
    func goldenAndEmpty() {
        // A [2, 3] . W [2, 3]^T + bias: row 0: 1 - 2 + 6 + 10 = 15, -127 + 254 - 10 = 117;
        // row 1: -128 - 127 - 2 + 10 = -247, 16256 + 16129 - 10 = 32375. Times 0.5; requantized
        // by (2^30, 0) = 0.5: 7.5 -> 8 and -123.5 -> -123 (half up), 16187.5 clamps to 127.
        let a = CBuffer<Int8>([1, 2, 3, -128, 127, -1]), w = CBuffer<Int8>([1, -1, 2, -127, 127, 0])
        let packed = CBuffer<Int8>(count: vq_qgemm_packed_size(2, 3), repeating: 0)
        vq_qgemm_pack(w.pointer, 2, 3, packed.pointer)
        let bias = CBuffer<Int32>([10, -10]), mult = CBuffer<Int32>([1 << 30, 1 << 30]), shift = CBuffer<Int32>([0, 0])
        let scale = CBuffer<Float>([0.5, 0.5])
        let dummy = CBuffer<Int8>(count: 1, repeating: 0)
        for isa in KernelISA.supported {
            let t = isa.table
            let c = CBuffer<Float>(count: 4, repeating: 0), q = CBuffer<Int8>(count: 4, repeating: 0)
            t.qgemm_packed_f32!(2, 2, 3, a.pointer, 3, packed.pointer, bias.pointer, scale.pointer, c.pointer, 2)
            #expect(c.array == [7.5, 58.5, -123.5, 16187.5], "\(isa) float")
            t.qgemm_packed_s8!(2, 2, 3, a.pointer, 3, packed.pointer, bias.pointer, mult.pointer, shift.pointer, q.pointer, 2)
            #expect(q.array == [8, 59, -123, 127], "\(isa) int8")
            t.qgemm_packed_f32!(2, 2, 3, a.pointer, 3, packed.pointer, nil, scale.pointer, c.pointer, 2)
            #expect(c.array == [2.5, 63.5, -128.5, 16192.5], "\(isa) float, no bias")
            // K = 0
            let b3 = CBuffer<Int32>([5, -7, 1 << 25]), s3 = CBuffer<Float>([1, 2, 0.5])
            let m3 = CBuffer<Int32>([1 << 30, 1 << 30, 1 << 30]), sh3 = CBuffer<Int32>([0, 0, 0])
            let c3 = CBuffer<Float>(count: 3, repeating: 9), q3 = CBuffer<Int8>(count: 3, repeating: 9)
            t.qgemm_packed_f32!(1, 3, 0, dummy.pointer, 1, dummy.pointer, b3.pointer, s3.pointer, c3.pointer, 3)
            #expect(c3.array == [5, -14, 16_777_216], "\(isa) K = 0 float")
            t.qgemm_packed_s8!(1, 3, 0, dummy.pointer, 1, dummy.pointer, b3.pointer, m3.pointer, sh3.pointer, q3.pointer, 3)
            #expect(q3.array == [3, -3, 127], "\(isa) K = 0 int8")
            // M = 0, N = 0
            let untouched = CBuffer<Float>(count: 3, repeating: 9), uq = CBuffer<Int8>(count: 3, repeating: 9)
            t.qgemm_packed_f32!(0, 3, 4, dummy.pointer, 4, dummy.pointer, b3.pointer, s3.pointer, untouched.pointer, 3)
            t.qgemm_packed_s8!(1, 0, 4, dummy.pointer, 4, dummy.pointer, b3.pointer, m3.pointer, sh3.pointer, uq.pointer, 3)
            #expect(untouched.array == [9, 9, 9] && uq.array == [9, 9, 9], "\(isa) M = 0 or N = 0 wrote")
        }
    }

    @Test("quantize_s8: half to even, float32 product, NaN -> 0, inf and huge clamp; every ISA the reference's bits")
    func quantize() {
        let x: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, 128, -127.5, -128, -1e30, .infinity,
                          -.infinity, .nan, 0.49999997, .leastNonzeroMagnitude, -0.0, .greatestFiniteMagnitude, 126.49999]
        let want: [Int8] = [0, 2, 2, 0, -2, -2, 126, 127, 127, -127, -127, -127, 127, -127, 0, 0, 0, 0, 127, 126]
        let xb = CBuffer(x)
        for isa in KernelISA.supported {
            let t = isa.table
            let y = CBuffer<Int8>(count: x.count, repeating: 0x55)
            t.quantize_s8!(1, Int32(x.count), xb.pointer, Int32(x.count), 1, y.pointer, Int32(x.count))
            #expect(y.array == want, "\(isa) goldens")
            // float(1/6) * 3 = 0.500000015 exactly, but the float32 product is 0.5 -> 0
            let one = CBuffer<Float>([0.16666667, 9, 0]), out = CBuffer<Int8>(count: 3, repeating: 0x55)
            t.quantize_s8!(1, 1, one.pointer, 1, 3, out.pointer, 1)
            t.quantize_s8!(1, 2, one.pointer + 1, 2, .infinity, out.pointer + 1, 2) // 9 * inf clamps, 0 * inf = NaN
            #expect(out.array == [0, 127, 0], "\(isa) float32 product, inf scale")
        }
        var rng = KernelSeed.generator(9500)
        for rep in 0..<100 {
            let rows = rng.int(1...5), cols = rep % 71, ldx = cols + rng.int(0...3), ldy = cols + rng.int(0...3)
            let inv: Float = rep % 4 == 0 ? 1 : Float(Double(rng.float(0.5...1)) * pow(2, Double(rng.int(-4...8))))
            let values = (0..<(rows * ldx)).map { i -> Float in
                switch rng.int(0...9) {
                case 0: return Float(Double(rng.int(-300...300)) + 0.5) / inv // ties
                case 1: return i % 3 != 0 ? .nan : (i % 2 == 0 ? .infinity : -.infinity)
                case 2: return rng.float(-1e38...1e38)
                default: return rng.float(-200...200) / inv
                }
            }
            let xs = CBuffer(values.isEmpty ? [0] : values)
            var outputs: [[Int8]] = []
            for isa in KernelISA.supported {
                let y = CBuffer<Int8>(count: rows * ldy + 1, repeating: 0x55)
                isa.table.quantize_s8!(Int32(rows), Int32(cols), xs.pointer, Int32(ldx), inv, y.pointer, Int32(ldy))
                outputs.append(y.array)
            }
            #expect(outputs.allSatisfy { $0 == outputs[0] }, "quantize \(rows)x\(cols) (ldx \(ldx), ldy \(ldy)): ISAs differ [\(KernelSeed.note)]")
            var wrong = 0
            for r in 0..<rows {
                for c in 0..<cols {
                    let p = xs[r * ldx + c] * inv
                    let e: Int8 = p.isNaN ? 0 : Int8(min(max(p.rounded(.toNearestOrEven), -127), 127))
                    if outputs[0][r * ldy + c] != e { wrong += 1 }
                }
            }
            let outside = ldy == 0 ? [0] : (0..<(rows * ldy + 1)).filter { $0 / ldy >= rows || $0 % ldy >= cols }
            #expect(wrong == 0 && outside.allSatisfy { outputs[0][$0] == 0x55 }, "reference quantize \(rows)x\(cols): \(wrong) wrong")
        }
    }

    @Test("lut_s8: y = lut[x + 128] for all 256 inputs, every length, in place")
    func lookupTable() {
        var rng = KernelSeed.generator(9600)
        let lut = CBuffer<Int8>((0..<256).map { _ in Int8(rng.int(-127...127)) })
        for n in Array(0...70) + [128, 200, 255, 256, 300] {
            let x = CBuffer<Int8>((0..<max(n, 1)).map { i in i < 256 ? Int8(i - 128) : Int8(rng.int(-128...127)) })
            for isa in KernelISA.supported {
                let y = CBuffer<Int8>(count: n + 1, repeating: 0x55)
                isa.table.lut_s8!(Int32(n), x.pointer, lut.pointer, y.pointer)
                let want = (0..<n).map { lut[Int(x[$0]) + 128] } + [0x55]
                #expect(y.array == want, "\(isa) lut n = \(n)")
                let inPlace = CBuffer<Int8>(x.array)
                isa.table.lut_s8!(Int32(n), inPlace.pointer, lut.pointer, inPlace.pointer)
                #expect(Array(inPlace.array.prefix(n)) == Array(want.prefix(n)), "\(isa) lut in place n = \(n)")
            }
        }
    }
}
