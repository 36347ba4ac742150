import CVentriqKernels
import Foundation
import Testing

// Shared pieces of the kernel tests: the seeded generator, raw float buffers for the C API, the
// list of ISA tables this host runs, and the named error bounds.

/// Float32 unit roundoff: every correctly rounded float operation has relative error <= u.
let unitRoundoff = 0x1p-24
/// The smallest positive (subnormal) float: an operation whose result is subnormal can be off by
/// half of it in absolute terms, whatever its relative error.
let smallestSubnormal = 0x1p-149

// MARK: - Seeds

/// The seed of this test run: `VENTRIQ_TEST_SEED` when set (to replay a failure), else fresh from
/// the clock. It is printed once and every failure message repeats it.
enum KernelSeed {
    static let base: UInt64 = {
        let seed: UInt64
        if let text = ProcessInfo.processInfo.environment["VENTRIQ_TEST_SEED"], let value = UInt64(text) {
            seed = value
        } else {
            seed = UInt64(Date().timeIntervalSince1970 * 1_000_000) & 0xFFFF_FFFF_FFFF
        }
        print("VentriqKernelsTests: seed \(seed) (replay with VENTRIQ_TEST_SEED=\(seed))")
        return seed
    }()

    /// A generator for one test, decorrelated from the others by `stream`.
    static func generator(_ stream: UInt64) -> SplitMix64 {
        SplitMix64(seed: base ^ (stream &* 0x9E37_79B9_7F4A_7C15))
    }

    static var note: String { "seed \(base)" }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough for test inputs.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func float(_ range: ClosedRange<Double>) -> Float {
        Float(Double.random(in: range, using: &self))
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
}

// MARK: - Buffers

/// A heap float array with a stable address, for passing to the C kernels.
final class FloatBuffer {
    let count: Int
    let pointer: UnsafeMutablePointer<Float>

    init(count: Int, repeating value: Float = 0) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    /// `count` values uniform in `range`.
    convenience init(random count: Int, in range: ClosedRange<Double>, using rng: inout SplitMix64) {
        self.init(count: count)
        for i in 0..<count { pointer[i] = rng.float(range) }
    }

    deinit { pointer.deallocate() }

    subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    func copy() -> FloatBuffer {
        let c = FloatBuffer(count: count)
        c.pointer.update(from: pointer, count: count)
        return c
    }

    /// Same bit patterns (distinguishes -0 from +0 and compares NaNs by payload).
    func bitwiseEqual(_ other: FloatBuffer) -> Bool {
        count == other.count && memcmp(pointer, other.pointer, count * MemoryLayout<Float>.size) == 0
    }

    /// Indices whose bits differ from `other` (for messages).
    func differingIndices(_ other: FloatBuffer) -> [Int] {
        (0..<count).filter { pointer[$0].bitPattern != other.pointer[$0].bitPattern }
    }
}

/// A heap array of a C scalar type (Int8, Int32, ...) with a stable address.
final class CBuffer<T> {
    let count: Int
    let pointer: UnsafeMutablePointer<T>

    init(count: Int, repeating value: T) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    convenience init(_ values: [T]) {
        precondition(!values.isEmpty)
        self.init(count: values.count, repeating: values[0])
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    deinit { pointer.deallocate() }

    subscript(i: Int) -> T {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Same bytes as `other` (floats compare by bit pattern).
    func bytesEqual(_ other: CBuffer<T>) -> Bool {
        count == other.count && memcmp(pointer, other.pointer, count * MemoryLayout<T>.stride) == 0
    }
}

// MARK: - ISA tables

/// One kernel table this host runs.
struct KernelISA: CustomStringConvertible, Sendable {
    let id: Int32
    var table: vq_kernel_table { vq_kernels_table(id)!.pointee }
    var description: String { String(cString: table.name) }

    /// Every ISA identifier, reference first.
    static let all: [Int32] = [VQ_ISA_REFERENCE, VQ_ISA_AVX2, VQ_ISA_AVX512, VQ_ISA_NEON, VQ_ISA_AVX512_VNNI,
                               VQ_ISA_AVX_VNNI, VQ_ISA_NEON_DOTPROD]

    /// Every table this build has and this CPU runs, reference first.
    static let supported: [KernelISA] = all.filter { vq_kernels_isa_supported($0) != 0 }.map { KernelISA(id: $0) }

    /// The SIMD tables among them (each compared with the reference).
    static let simd: [KernelISA] = supported.filter { $0.id != VQ_ISA_REFERENCE }
}

// MARK: - Bounds

/// The error bounds the tests hold the kernels to. Each is a rigorous first-order bound on the
/// distance between a float32 kernel (any ISA, the reference included) and the exact result of
/// the same formula on the same float inputs (computed in double, whose own error is ~2^-29 times
/// smaller), so a correct kernel cannot fail it, while a wrong index, a lost term or a wrong
/// normalization moves results by far more.
enum Bound {
    /// One GEMM output: a length-K dot product summed in any order (blocked, SIMD lanes, FMA or
    /// not), then times alpha, + bias, + the old C. Every term goes through at most K + 4
    /// roundings, so (Higham, Accuracy and Stability of Numerical Algorithms, 3.1)
    ///     |computed - exact| <= gamma_{K+4} * S,  gamma_n = n u / (1 - n u) <= 1.01 n u,
    ///     S = |alpha| sum_k |a_k b_k| + |bias| + |C_old|,
    /// plus (K + 4) half-subnormals when partial sums underflow. Since
    /// sum_k |a_k b_k| <= K max|a| max|b|, this is the usual K max|a| max|w| eps scale, taken per
    /// element (tighter). A missing or repeated term errs by about S / K >> K u S for K << 4096.
    static func gemm(k: Int, magnitude s: Double) -> Double {
        1.01 * Double(k + 4) * unitRoundoff * s + Double(k + 4) * smallestSubnormal
    }

    /// One LayerNorm output y = (x - m) rstd gamma + beta over n = cols values. The float mean is
    /// off by at most (n + 1) u mean|x| (summation + division); the variance (two-pass, so
    /// cancellation-free) by (n + 3) u relative plus the squared mean error, which moves rstd by
    /// about half of that; the last three operations add 3 roundings. Hence
    ///     |dy| <= 2 (n + 8) u (|gamma| rstd (|x - m| + mean|x|) + |beta|) + 2 u |y|,
    /// valid while (mean error * rstd)^2 is negligible (inputs not nearly constant).
    static func layerNorm(cols n: Int, x: Double, mean: Double, meanAbs: Double, rstd: Double,
                          gamma: Double, beta: Double, y: Double) -> Double {
        2 * Double(n + 8) * unitRoundoff * (abs(gamma) * rstd * (abs(x - mean) + meanAbs) + abs(beta))
            + 2 * unitRoundoff * abs(y) + smallestSubnormal
    }

    /// One softmax output p_j = e^(d_j) / sum_k e^(d_k), d = x - max, over n columns. d_j itself is
    /// rounded (relative u, so e^d is off by |d_j| u relative); exp is within 2 ulp = 4 u (SIMD
    /// polynomial; libm: 1 ulp); the positive sum adds n u; the reciprocal and the product 2 u.
    ///     |dp_j| <= (2 n + 12 + |d_j|) u p_j + 2 subnormals (underflowing terms).
    static func softmax(cols n: Int, d: Double, p: Double) -> Double {
        (2 * Double(n) + 12 + (d.isFinite ? abs(d) : 0)) * unitRoundoff * p + 2 * smallestSubnormal
    }

    /// The vectorized erf's required accuracy, absolute, against libm erff and against exact erf
    /// (the budget; measured 1 ulp = 5.96e-8 over every float in [-10, 10]).
    static let erfAbsolute = 2e-7

    /// One GELU output y = (0.5 x)(1 + erf(x / sqrt 2)): the erf error (erfAbsolute), the rounding
    /// of z = x * fl(1/sqrt 2) (moves erf by <= 0.49 * 2u), of 1 + erf (<= 2u absolute) and of
    /// the two products (u |y| each):
    ///     |dy| <= 0.5 |x| (erfAbsolute + 4 u) + 2 u |y| + 1 subnormal.
    static func gelu(x: Double, y: Double) -> Double {
        0.5 * abs(x) * (erfAbsolute + 4 * unitRoundoff) + 2 * unitRoundoff * abs(y) + smallestSubnormal
    }

    /// exp: 2 ulp <= 2^-22 |y| relative for normal results, plus a subnormal for underflow.
    static func exp(y: Double) -> Double { 0x1p-22 * abs(y) + smallestSubnormal }

    /// Mean of `rows` values: summation (rows - 1 roundings) and one division:
    ///     |dm| <= (rows + 1) u sum|x| / rows + 1 subnormal.
    static func mean(rows: Int, sumAbs: Double) -> Double {
        Double(rows + 1) * unitRoundoff * sumAbs / Double(rows) + smallestSubnormal
    }
}
