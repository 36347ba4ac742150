import Foundation

/// Rational resampling from a recording's rate to the model's, as `scipy.signal.resample_poly`
/// does it with its defaults (window `("kaiser", 5.0)`, padtype "constant", zero padding).
///
/// Design (copied from scipy 1.17.1): `up / down` is the reduced fraction of `toHz / fromHz`;
/// with `m = max(up, down)` the anti-aliasing filter is `firwin(2 * 10 * m + 1, 1 / m,
/// window=("kaiser", 5.0))` (a Kaiser-windowed sinc with cut-off `1 / m` of the Nyquist
/// frequency, scaled to unit DC gain) times `up`, zero-padded in front by
/// `down - (10 * m) % down` taps. The output is `upfirdn(h, x, up, down)` with its first
/// `(10 * m + prePad) / down` samples dropped and `ceil(n * up / down)` samples kept. Each output
/// sample is a polyphase sum over the taps of one phase, in float64; the sum runs in a different
/// order than scipy's, so results agree to about 1e-15 of the signal's scale rather than bit for bit.
///
/// Limits: both rates positive and finite, and `up` and `down` at most `maximumFactor` (1000),
/// which keeps the filter under 20,001 taps and covers every rate pair with a ratio of small
/// integers (250, 257, 360, 1000, 1024 Hz ... to 500 Hz). The rate ratio is matched to a fraction
/// within a relative `rateTolerance` (1e-9), so a rate written with rounding in a header (e.g.
/// 333.333 for 1000/3) is refused rather than silently treated as another.
///
/// Ownership: a value type holding its filter (allocated once, in `init`). `resample(_:into:)`
/// allocates nothing; the array-returning conveniences allocate their result. Sendable.
public struct Resampler: Sendable, Equatable {
    /// The largest `up` or `down` factor accepted.
    public static let maximumFactor = 1000
    /// Relative tolerance when matching `toHz / fromHz` to a fraction.
    public static let rateTolerance = 1e-9
    /// Kaiser window parameter of scipy's default anti-aliasing filter.
    public static let kaiserBeta = 5.0

    public let fromHz: Double
    public let toHz: Double
    /// The reduced fraction `toHz / fromHz = up / down`.
    public let up: Int
    public let down: Int
    /// `10 * max(up, down)`; the filter has `2 * halfLength + 1` taps (0 when up == down == 1).
    public let halfLength: Int
    /// The anti-aliasing filter times `up` (scipy's `h` before zero padding); empty when the
    /// rates are equal.
    public let filter: [Double]
    private let prePad: Int
    private let preRemove: Int

    /// Designs the resampler for `fromHz -> toHz`. Throws `SignalError.unsupportedResampling`
    /// naming both rates when a rate is not positive and finite or the ratio needs a factor
    /// above `maximumFactor`.
    public init(fromHz: Double, toHz: Double) throws(SignalError) {
        guard fromHz.isFinite, toHz.isFinite, fromHz > 0, toHz > 0 else {
            throw .unsupportedResampling(fromHz: fromHz, toHz: toHz, reason: "both rates must be positive and finite")
        }
        let (up, down) = try Self.fraction(fromHz: fromHz, toHz: toHz)
        self.fromHz = fromHz
        self.toHz = toHz
        self.up = up
        self.down = down
        if up == 1 && down == 1 {
            halfLength = 0
            filter = []
            prePad = 0
            preRemove = 0
            return
        }
        let maxRate = max(up, down)
        halfLength = 10 * maxRate
        filter = Self.lowpass(taps: 2 * halfLength + 1, cutoff: 1.0 / Double(maxRate)).map { $0 * Double(up) }
        prePad = down - halfLength % down
        preRemove = (halfLength + prePad) / down
    }

    /// `ceil(n * up / down)`, the number of samples `resample_poly` returns for `n` inputs.
    public func outputCount(forInputCount n: Int) -> Int {
        let total = n * up
        return total / down + (total % down == 0 ? 0 : 1)
    }

    /// Resamples one channel into `output`, which must hold `outputCount(forInputCount:)` values.
    /// Allocates nothing.
    public func resample(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) throws(SignalError) {
        try checkOutput(input.count, output.count)
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        run(x, count: input.count, into: y)
    }

    /// Resamples one float32 channel (computed in float64, rounded once). Allocates nothing.
    public func resample(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws(SignalError) {
        try checkOutput(input.count, output.count)
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        run(x, count: input.count, into: y)
    }

    /// Resamples one channel into a new array.
    public func resample(_ input: [Double]) -> [Double] {
        var output = [Double](repeating: 0, count: outputCount(forInputCount: input.count))
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                if let xp = x.baseAddress, let yp = y.baseAddress { run(xp, count: x.count, into: yp) }
            }
        }
        return output
    }

    /// Resamples a lead-major float32 window (`leadCount` rows) into a new lead-major array of
    /// `leadCount * outputCount(forInputCount: input.count / leadCount)` values.
    public func resample(leads input: [Float], leadCount: Int) throws(SignalError) -> [Float] {
        guard leadCount >= 1, input.count % leadCount == 0 else {
            throw .invalidShape(leadCount: leadCount, sampleCount: leadCount >= 1 ? input.count / leadCount : input.count)
        }
        let n = input.count / leadCount
        let m = outputCount(forInputCount: n)
        var output = [Float](repeating: 0, count: leadCount * m)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                for lead in 0 ..< leadCount where n > 0 {
                    run(x.baseAddress! + lead * n, count: n, into: y.baseAddress! + lead * m)
                }
            }
        }
        return output
    }

    // MARK: - Internals

    private func checkOutput(_ inputCount: Int, _ outputCount: Int) throws(SignalError) {
        let expected = self.outputCount(forInputCount: inputCount)
        if outputCount != expected {
            throw .bufferSizeMismatch(buffer: "resampler output", expected: expected, actual: outputCount)
        }
    }

    /// Output sample i is upfirdn's sample `t = (i + preRemove) * down`: the sum over filter taps
    /// j with `(t - prePad - j) % up == 0` of `h[j] * x[(t - prePad - j) / up]`, inside x.
    private func run<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, count n: Int, into y: UnsafeMutablePointer<T>) {
        let outCount = outputCount(forInputCount: n)
        if filter.isEmpty {
            for i in 0 ..< outCount { y[i] = x[i] }
            return
        }
        filter.withUnsafeBufferPointer { h in
            let taps = h.count
            for i in 0 ..< outCount {
                let m = (i + preRemove) * down - prePad  // >= 0: preRemove * down > halfLength + prePad - down
                let phase = m % up
                var k = (m - phase) / up  // input index for tap `phase`
                var j = phase
                // Skip taps whose input index is past the end.
                if k >= n {
                    let skip = k - (n - 1)
                    j += skip * up
                    k -= skip
                }
                var acc = 0.0
                while j < taps && k >= 0 {
                    acc += h[j] * Double(x[k])
                    j += up
                    k -= 1
                }
                y[i] = T(acc)
            }
        }
    }

    /// The reduced fraction up / down of toHz / fromHz, from the continued fraction's convergents
    /// (any fraction with terms <= 1000 that matches within the tolerance is one of them).
    private static func fraction(fromHz: Double, toHz: Double) throws(SignalError) -> (Int, Int) {
        let ratio = toHz / fromHz
        func matches(_ p: Int, _ q: Int) -> Bool {
            abs(Double(p) * fromHz - Double(q) * toHz) <= rateTolerance * Double(q) * toHz
        }
        var (p0, q0, p1, q1) = (0, 1, 1, 0)  // convergents h_{-2}/k_{-2}, h_{-1}/k_{-1}
        var rest = ratio
        let searchLimit = 1_000_000_000
        for _ in 0 ..< 64 {
            let a = rest.rounded(.down)
            guard a < Double(searchLimit) else { break }
            let ai = Int(a)
            let (p, q) = (ai * p1 + p0, ai * q1 + q0)
            guard p <= searchLimit, q <= searchLimit else { break }
            if matches(p, q) {
                if p > maximumFactor || q > maximumFactor {
                    throw .unsupportedResampling(
                        fromHz: fromHz, toHz: toHz,
                        reason: "the rate ratio reduces to \(p)/\(q); up and down must be at most \(maximumFactor)")
                }
                return (p, q)
            }
            (p0, q0, p1, q1) = (p1, q1, p, q)
            let frac = rest - a
            guard frac > 0 else { break }
            rest = 1 / frac
        }
        throw .unsupportedResampling(
            fromHz: fromHz, toHz: toHz,
            reason: "the rate ratio \(ratio) is not a fraction up/down with up and down at most \(maximumFactor)")
    }

    /// scipy's `firwin(taps, cutoff, window=("kaiser", 5.0))` for a low-pass (pass_zero, scale):
    /// `cutoff * sinc(cutoff * m) * kaiser(m)` with `m = n - (taps - 1) / 2`, divided by its sum.
    static func lowpass(taps: Int, cutoff: Double) -> [Double] {
        let alpha = 0.5 * Double(taps - 1)
        let i0Beta = besselI0(kaiserBeta)
        var h = (0 ..< taps).map { n -> Double in
            let m = Double(n) - alpha
            let r = (Double(n) - alpha) / alpha
            let window = besselI0(kaiserBeta * (1 - r * r).squareRoot()) / i0Beta
            return cutoff * sinc(cutoff * m) * window
        }
        let sum = h.reduce(0, +)
        for i in h.indices { h[i] /= sum }
        return h
    }

    /// numpy's sinc: sin(pi x) / (pi x), 1 at 0.
    static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let y = Double.pi * x
        return Foundation.sin(y) / y
    }

    /// The modified Bessel function of the first kind, order 0: sum over k of ((x/2)^k / k!)^2.
    /// The series converges to double precision in under 40 terms for the arguments used (<= 5).
    static func besselI0(_ x: Double) -> Double {
        let q = 0.25 * x * x
        var term = 1.0, sum = 1.0
        var k = 1.0
        while term > sum * 1e-17 {
            term *= q / (k * k)
            sum += term
            k += 1
        }
        return sum
    }
}
