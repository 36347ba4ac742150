import CVentriqKernels
import Foundation
import Testing

/// The four GEMM entry points of a kernel table.
enum GemmKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case packed, packedAccumulate, nt, nn
    var description: String { rawValue }
    var usesPackedWeight: Bool { self == .packed || self == .packedAccumulate }
}

/// One GEMM problem: random operands (strided by `pad` extra elements per row), the exact result
/// in double with each element's error scale, and a check of any table's output against them.
final class GemmProblem {
    let kind: GemmKind
    let m: Int, n: Int, k: Int
    let lda: Int, ldb: Int, ldc: Int
    let a: FloatBuffer, b: FloatBuffer, bias: FloatBuffer?
    let packed: FloatBuffer?
    /// C before the call, with one extra row: everything outside the M x N block is a sentinel
    /// that must survive the call bit for bit.
    let c0: FloatBuffer
    let alpha: Float
    private(set) var exact: [Double] = []
    private(set) var magnitude: [Double] = []

    var label: String { "\(kind) \(m)x\(n)x\(k) (lda \(lda), ldb \(ldb), ldc \(ldc), bias \(bias != nil))" }

    init(kind: GemmKind, m: Int, n: Int, k: Int, pad: Int, withBias: Bool, alpha: Float = 1,
         fillA: (Int) -> Float, fillB: (Int) -> Float, fillBias: (Int) -> Float, fillC: (Int) -> Float) {
        self.kind = kind
        self.m = m
        self.n = n
        self.k = k
        lda = k + pad
        ldb = (kind == .nn ? n : k) + pad
        ldc = n + pad
        self.alpha = kind == .nt ? alpha : 1
        a = FloatBuffer(count: m * lda)
        for i in 0..<a.count { a[i] = fillA(i) }
        let bRows = kind == .nn ? k : n
        b = FloatBuffer(count: bRows * ldb)
        for i in 0..<b.count { b[i] = fillB(i) }
        if withBias && kind.usesPackedWeight {
            let bb = FloatBuffer(count: n)
            for i in 0..<n { bb[i] = fillBias(i) }
            bias = bb
        } else {
            bias = nil
        }
        c0 = FloatBuffer(count: (m + 1) * ldc)
        for i in 0..<c0.count { c0[i] = fillC(i) }
        if kind.usesPackedWeight {
            // vq_sgemm_pack takes W with leading dimension K: pack a dense copy of B.
            let dense = FloatBuffer(count: n * k)
            for j in 0..<n { for kk in 0..<k { dense[j * k + kk] = b[j * ldb + kk] } }
            let p = FloatBuffer(count: vq_sgemm_packed_size(Int32(n), Int32(k)), repeating: .nan)
            vq_sgemm_pack(dense.pointer, Int32(n), Int32(k), p.pointer)
            packed = p
        } else {
            packed = nil
        }
        computeExact()
    }

    /// Uniform operands in [-scale, scale] (bias [-scale^2, scale^2], C in [-1, 1]).
    convenience init(kind: GemmKind, m: Int, n: Int, k: Int, pad: Int, withBias: Bool,
                     scale: Double = 1, alpha: Float = 0.17677669, rng: inout SplitMix64) {
        var r = rng
        defer { rng = r }
        let (ab, bb, biasb, cb) = (
            FloatBuffer(random: m * (k + pad), in: -scale...scale, using: &r),
            FloatBuffer(random: (kind == .nn ? k * (n + pad) : n * (k + pad)), in: -scale...scale, using: &r),
            FloatBuffer(random: n, in: -(scale * scale)...(scale * scale), using: &r),
            FloatBuffer(random: (m + 1) * (n + pad), in: -1...1, using: &r)
        )
        self.init(kind: kind, m: m, n: n, k: k, pad: pad, withBias: withBias, alpha: alpha,
                  fillA: { ab[$0] }, fillB: { bb[$0] }, fillBias: { biasb[$0] }, fillC: { cb[$0] })
    }

    private func computeExact() {
        exact = [Double](repeating: 0, count: m * n)
        magnitude = [Double](repeating: 0, count: m * n)
        let ap = a.pointer, bp = b.pointer
        let bRowStride = kind == .nn ? 1 : ldb // step between j for fixed k
        let bKStride = kind == .nn ? ldb : 1 // step between k for fixed j
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, mag = 0.0
                var pa = ap + i * lda
                var pb = bp + j * bRowStride
                for _ in 0..<k {
                    let p = Double(pa.pointee) * Double(pb.pointee)
                    sum += p
                    mag += abs(p)
                    pa += 1
                    pb += bKStride
                }
                sum *= Double(alpha)
                mag *= abs(Double(alpha))
                if let bias {
                    sum += Double(bias[j])
                    mag += abs(Double(bias[j]))
                }
                if kind == .packedAccumulate {
                    sum += Double(c0[i * ldc + j])
                    mag += abs(Double(c0[i * ldc + j]))
                }
                exact[i * n + j] = sum
                magnitude[i * n + j] = mag
            }
        }
    }

    /// Runs `table`'s kernel for this problem on a fresh copy of C0 and returns C.
    func run(_ t: vq_kernel_table) -> FloatBuffer {
        let c = c0.copy()
        let (M, N, K) = (Int32(m), Int32(n), Int32(k))
        switch kind {
        case .packed:
            t.sgemm_packed!(M, N, K, a.pointer, Int32(lda), packed!.pointer, bias?.pointer, c.pointer, Int32(ldc))
        case .packedAccumulate:
            t.sgemm_packed_accumulate!(M, N, K, a.pointer, Int32(lda), packed!.pointer, bias?.pointer, c.pointer,
                                       Int32(ldc))
        case .nt:
            t.sgemm_nt!(M, N, K, a.pointer, Int32(lda), b.pointer, Int32(ldb), alpha, c.pointer, Int32(ldc))
        case .nn:
            t.sgemm_nn!(M, N, K, a.pointer, Int32(lda), b.pointer, Int32(ldb), c.pointer, Int32(ldc))
        }
        return c
    }

    /// Problems with `c` (the output of `isa`): elements beyond Bound.gemm, or writes outside C.
    func failures(_ c: FloatBuffer, isa: String) -> [String] {
        var out: [String] = []
        for i in 0..<m {
            for j in 0..<n {
                let got = Double(c[i * ldc + j]), want = exact[i * n + j]
                let tol = Bound.gemm(k: k, magnitude: magnitude[i * n + j])
                if !(abs(got - want) <= tol) {
                    out.append("\(isa) \(label): C[\(i),\(j)] = \(got), exact \(want), bound \(tol)")
                    if out.count >= 3 { return out }
                }
            }
        }
        for idx in 0..<c.count where idx / ldc >= m || idx % ldc >= n {
            if c[idx].bitPattern != c0[idx].bitPattern {
                out.append("\(isa) \(label): wrote outside C at row \(idx / ldc), column \(idx % ldc)")
                break
            }
        }
        return out
    }

    /// Runs every supported table (reference included) and records any failure.
    func checkAllISAs(sourceLocation: SourceLocation = #_sourceLocation) {
        for isa in KernelISA.supported {
            let c = run(isa.table)
            let problems = failures(c, isa: isa.description)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n")) [\(KernelSeed.note)]",
                    sourceLocation: sourceLocation)
        }
    }
}

@Suite("GEMM kernels")
struct GemmTests {
    @Test("packed layout: panels of 16 columns, K rows each, zero padding; size")
    func packLayout() {
        #expect(vq_sgemm_packed_size(1, 1) == 16)
        #expect(vq_sgemm_packed_size(16, 3) == 48)
        #expect(vq_sgemm_packed_size(17, 3) == 96)
        #expect(vq_sgemm_packed_size(288, 96) == 288 * 96)
        #expect(vq_sgemm_packed_size(0, 5) == 0)
        let n = 20, k = 3
        let w = FloatBuffer((0..<(n * k)).map { Float($0 + 1) }) // W[j, kk] = j * k + kk + 1
        let p = FloatBuffer(count: vq_sgemm_packed_size(Int32(n), Int32(k)), repeating: .nan)
        vq_sgemm_pack(w.pointer, Int32(n), Int32(k), p.pointer)
        for panel in 0..<2 {
            for kk in 0..<k {
                for jj in 0..<16 {
                    let j = panel * 16 + jj
                    let want: Float = j < n ? Float(j * k + kk + 1) : 0
                    #expect(p[panel * k * 16 + kk * 16 + jj].bitPattern == want.bitPattern,
                            "panel \(panel) k \(kk) column \(jj)")
                }
            }
        }
    }

    @Test("golden tables: small integer products are exact on every ISA")
    func goldenTables() {
        // A [2, 3], W [2, 3]: C = A W^T + bias, all values exactly representable.
        let a = FloatBuffer([1, 2, 3, 4, 5, 6])
        let w = FloatBuffer([1, 0, -1, 2, 1, 0])
        let bias = FloatBuffer([0.5, -1])
        let packed = FloatBuffer(count: vq_sgemm_packed_size(2, 3))
        vq_sgemm_pack(w.pointer, 2, 3, packed.pointer)
        // A [2, 3] . B [3, 2] with B = [[1, 2], [3, 4], [5, 6]]
        let bnn = FloatBuffer([1, 2, 3, 4, 5, 6])
        for isa in KernelISA.supported {
            let t = isa.table
            let c = FloatBuffer(count: 4)
            t.sgemm_packed!(2, 2, 3, a.pointer, 3, packed.pointer, bias.pointer, c.pointer, 2)
            #expect(c.array == [-1.5, 3, -1.5, 12], "\(isa) packed")
            t.sgemm_packed!(2, 2, 3, a.pointer, 3, packed.pointer, nil, c.pointer, 2)
            #expect(c.array == [-2, 4, -2, 13], "\(isa) packed, no bias")
            t.sgemm_packed_accumulate!(2, 2, 3, a.pointer, 3, packed.pointer, bias.pointer, c.pointer, 2)
            #expect(c.array == [-3.5, 7, -3.5, 25], "\(isa) accumulate")
            t.sgemm_nt!(2, 2, 3, a.pointer, 3, a.pointer, 3, 0.5, c.pointer, 2) // 0.5 A A^T
            #expect(c.array == [7, 16, 16, 38.5], "\(isa) nt")
            t.sgemm_nn!(2, 2, 3, a.pointer, 3, bnn.pointer, 2, c.pointer, 2)
            #expect(c.array == [22, 28, 49, 64], "\(isa) nn")
        }
    }

    /// The Linear layers of the model (T = 300 tokens, D = 96, qkv 3D, MLP 384) and its heads.
    @Test("real Linear shapes", arguments: [
        (300, 96, 96), (300, 288, 96), (300, 384, 96), (300, 96, 384), (1, 9, 96), (1, 96, 96),
    ])
    func realLinearShapes(shape: (Int, Int, Int)) {
        var rng = KernelSeed.generator(UInt64(shape.0 * 1_000_003 + shape.1 * 1009 + shape.2))
        for kind in [GemmKind.packed, .packedAccumulate] {
            GemmProblem(kind: kind, m: shape.0, n: shape.1, k: shape.2, pad: kind == .packed ? 0 : 5,
                        withBias: true, rng: &rng).checkAllISAs()
        }
    }

    @Test("attention: Q.K^T and P.V on head slices of a [300, 288] qkv buffer")
    func attentionShapes() {
        let t = 300, d = 96, dh = 32, ld = 3 * d
        var rng = KernelSeed.generator(42)
        let qkv = FloatBuffer(random: t * ld, in: -2...2, using: &rng)
        let out = FloatBuffer(count: t * d + 7, repeating: 12345) // 7 sentinels after the end
        let scale: Float = 1 / Float(dh).squareRoot()
        for isa in KernelISA.supported {
            let tab = isa.table
            out.pointer.update(repeating: 12345, count: out.count)
            for h in 0..<3 {
                let q = qkv.pointer + h * dh, kk = qkv.pointer + d + h * dh, v = qkv.pointer + 2 * d + h * dh
                let s = FloatBuffer(count: t * t)
                tab.sgemm_nt!(Int32(t), Int32(t), Int32(dh), q, Int32(ld), kk, Int32(ld), scale, s.pointer, Int32(t))
                var bad: [String] = []
                for i in stride(from: 0, to: t, by: 7) {
                    for j in 0..<t {
                        var e = 0.0, mag = 0.0
                        for x in 0..<dh {
                            let p = Double(q[i * ld + x]) * Double(kk[j * ld + x])
                            e += p
                            mag += abs(p)
                        }
                        e *= Double(scale)
                        mag *= Double(scale)
                        if !(abs(Double(s[i * t + j]) - e) <= Bound.gemm(k: dh, magnitude: mag)) && bad.count < 3 {
                            bad.append("S[\(i),\(j)] = \(s[i * t + j]), exact \(e)")
                        }
                    }
                }
                #expect(bad.isEmpty, "\(isa) head \(h) Q.K^T: \(bad) [\(KernelSeed.note)]")
                vq_ref_softmax_rows(Int32(t), Int32(t), s.pointer, Int32(t))
                tab.sgemm_nn!(Int32(t), Int32(dh), Int32(t), s.pointer, Int32(t), v, Int32(ld),
                              out.pointer + h * dh, Int32(d))
                bad = []
                for i in stride(from: 0, to: t, by: 5) {
                    for j in 0..<dh {
                        var e = 0.0, mag = 0.0
                        for x in 0..<t {
                            let p = Double(s[i * t + x]) * Double(v[x * ld + j])
                            e += p
                            mag += abs(p)
                        }
                        let got = Double(out[i * d + h * dh + j])
                        if !(abs(got - e) <= Bound.gemm(k: t, magnitude: mag)) && bad.count < 3 {
                            bad.append("O[\(i),\(h * dh + j)] = \(got), exact \(e)")
                        }
                    }
                }
                #expect(bad.isEmpty, "\(isa) head \(h) P.V: \(bad) [\(KernelSeed.note)]")
            }
            #expect((0..<7).allSatisfy { out[t * d + $0] == 12345 }, "\(isa): P.V wrote past the output")
            #expect((0..<(t * d)).allSatisfy { out[$0] != 12345 }, "\(isa): some output never written")
        }
    }

    /// Every size 1...67 in one dimension with the others odd; blocks of 6, 12 and 16 leave
    /// remainders of every size.
    @Test("odd sizes, each dimension swept over 1...67", arguments: GemmKind.allCases)
    func sweeps(kind: GemmKind) {
        var rng2 = KernelSeed.generator(1000 + UInt64(GemmKind.allCases.firstIndex(of: kind)!))
        for size in 1...67 {
            let pad = rng2.int(0...3)
            GemmProblem(kind: kind, m: size, n: 17, k: 13, pad: pad, withBias: size % 2 == 0, rng: &rng2)
                .checkAllISAs()
            GemmProblem(kind: kind, m: 7, n: size, k: 11, pad: pad, withBias: size % 2 == 1, rng: &rng2)
                .checkAllISAs()
            GemmProblem(kind: kind, m: 13, n: 19, k: size, pad: pad, withBias: true, rng: &rng2).checkAllISAs()
        }
    }

    @Test("random shapes 1...67 with strides, and blocking boundaries", arguments: GemmKind.allCases)
    func randomShapes(kind: GemmKind) {
        var rng = KernelSeed.generator(2000 + UInt64(GemmKind.allCases.firstIndex(of: kind)!))
        for _ in 0..<60 {
            GemmProblem(kind: kind, m: rng.int(1...67), n: rng.int(1...67), k: rng.int(1...67), pad: rng.int(0...9),
                        withBias: rng.int(0...1) == 1, rng: &rng).checkAllISAs()
        }
        // More than one K slice (256), more than one M block (384 rows), both at once.
        for (m, n, k) in [(5, 33, 257), (3, 16, 513), (385, 17, 9), (390, 20, 300), (13, 48, 256)] {
            GemmProblem(kind: kind, m: m, n: n, k: k, pad: 1, withBias: true, rng: &rng).checkAllISAs()
        }
    }

    @Test("edge values: large, tiny and subnormal magnitudes, cancellation", arguments: GemmKind.allCases)
    func edgeValues(kind: GemmKind) {
        var rng = KernelSeed.generator(3000 + UInt64(GemmKind.allCases.firstIndex(of: kind)!))
        for (m, n, k) in [(13, 21, 17), (7, 33, 70)] {
            // products near 1e30 (sums near 1e32, far from overflow)
            GemmProblem(kind: kind, m: m, n: n, k: k, pad: 1, withBias: true, scale: 1e15, rng: &rng).checkAllISAs()
            // products near 1e-40: subnormal partial sums
            GemmProblem(kind: kind, m: m, n: n, k: k, pad: 2, withBias: false, scale: 1e-20, rng: &rng)
                .checkAllISAs()
            // magnitudes spread over 16 decades: heavy cancellation, the bound scales with sum|ab|
            var r = rng
            let spread: (Int) -> Float = { _ in
                Float((r.int(0...1) == 0 ? -1.0 : 1.0) * pow(10, Double(r.float(-8...8))))
            }
            GemmProblem(kind: kind, m: m, n: n, k: k, pad: 0, withBias: true, fillA: spread, fillB: spread,
                        fillBias: spread, fillC: spread).checkAllISAs()
            // subnormal A (|a| < 1.2e-38) against ordinary B: subnormal products and sums
            let subnormal: (Int) -> Float = { _ in r.float(-1...1) * Float.leastNormalMagnitude }
            let ordinary: (Int) -> Float = { _ in r.float(-1...1) }
            GemmProblem(kind: kind, m: m, n: n, k: k, pad: 3, withBias: false, fillA: subnormal, fillB: ordinary,
                        fillBias: ordinary, fillC: ordinary).checkAllISAs()
            rng = r
        }
    }

    @Test("zeros and signed zeros give the reference's bits; K = 0 gives bias or 0")
    func zeros() {
        for kind in GemmKind.allCases {
            for value in [Float(0), -Float(0)] {
                let p = GemmProblem(kind: kind, m: 7, n: 19, k: 5, pad: 1, withBias: false,
                                    fillA: { _ in value }, fillB: { _ in 1 }, fillBias: { _ in 0 }, fillC: { _ in 3 })
                let reference = p.run(KernelISA.supported[0].table)
                for isa in KernelISA.supported {
                    let c = p.run(isa.table)
                    #expect(c.bitwiseEqual(reference), "\(isa) \(p.label) zeros of sign \(value.sign)")
                    let want: Float = kind == .packedAccumulate ? 3 : 0 // C0 = 3 plus zero products
                    #expect((0..<7).allSatisfy { i in (0..<19).allSatisfy { c[i * 20 + $0] == want } }, "\(isa) \(kind)")
                }
            }
        }
        let bias = FloatBuffer([1, -2, 3])
        let dummy = FloatBuffer(count: 1)
        for isa in KernelISA.supported {
            let t = isa.table
            let c = FloatBuffer([9, 9, 9])
            t.sgemm_packed!(1, 3, 0, dummy.pointer, 1, dummy.pointer, bias.pointer, c.pointer, 3)
            #expect(c.array == [1, -2, 3], "\(isa) K = 0 packed")
            t.sgemm_packed_accumulate!(1, 3, 0, dummy.pointer, 1, dummy.pointer, bias.pointer, c.pointer, 3)
            #expect(c.array == [2, -4, 6], "\(isa) K = 0 accumulate")
            t.sgemm_nt!(1, 3, 0, dummy.pointer, 1, dummy.pointer, 1, 2, c.pointer, 3)
            #expect(c.array == [0, 0, 0], "\(isa) K = 0 nt")
            c[0] = 5
            t.sgemm_nn!(1, 3, 0, dummy.pointer, 1, dummy.pointer, 3, c.pointer, 3)
            #expect(c.array == [0, 0, 0], "\(isa) K = 0 nn")
            c[0] = 5
            t.sgemm_packed!(0, 3, 4, dummy.pointer, 4, dummy.pointer, bias.pointer, c.pointer, 3)
            t.sgemm_nn!(1, 0, 4, dummy.pointer, 4, dummy.pointer, 3, c.pointer, 3)
            #expect(c.array == [5, 0, 0], "\(isa) M = 0 or N = 0 writes nothing")
        }
    }

    @Test("the packed reference equals the unpacked reference bit for bit; inputs stay untouched")
    func packedReferenceMatchesUnpacked() {
        var rng = KernelSeed.generator(4000)
        for (m, n, k) in [(300, 96, 96), (7, 37, 29), (1, 1, 1), (12, 16, 300)] {
            let a = FloatBuffer(random: m * k, in: -1...1, using: &rng)
            let w = FloatBuffer(random: n * k, in: -1...1, using: &rng)
            let bias = FloatBuffer(random: n, in: -1...1, using: &rng)
            let packed = FloatBuffer(count: vq_sgemm_packed_size(Int32(n), Int32(k)))
            vq_sgemm_pack(w.pointer, Int32(n), Int32(k), packed.pointer)
            let (a0, w0, p0) = (a.copy(), w.copy(), packed.copy())
            let c1 = FloatBuffer(count: m * n), c2 = FloatBuffer(count: m * n)
            vq_ref_sgemm(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(k), bias.pointer, 0,
                         c1.pointer, Int32(n))
            vq_ref_sgemm_packed(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer, bias.pointer,
                                c2.pointer, Int32(n))
            #expect(c1.bitwiseEqual(c2), "\(m)x\(n)x\(k)")
            for isa in KernelISA.supported {
                _ = isa.table.sgemm_packed!(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer,
                                            bias.pointer, c2.pointer, Int32(n))
            }
            #expect(a.bitwiseEqual(a0) && w.bitwiseEqual(w0) && packed.bitwiseEqual(p0), "inputs modified")
        }
    }
}
