/// numpy's mean and population standard deviation, summed the way numpy sums (pairwise, with
/// eight running sums per block of up to 128 values), so that `(x - mean) / (std + eps)` comes
/// out with the same bits as `ventriq_training.preprocess.zscore` (step 4 of
/// `training/ventriq_training/preprocess.py`).
///
/// Internal; works on buffers owned by the caller and allocates nothing (the recursion depth is
/// about log2(count / 128)).
enum ZScore {
    /// numpy's `pairwise_sum` of `x[0 ..< count]`.
    static func pairwiseSum(_ x: UnsafePointer<Double>, count m: Int) -> Double {
        pairwise(x, count: m, squaredDeviationsFrom: nil)
    }

    /// numpy's `pairwise_sum` of `(x[i] - mean) * (x[i] - mean)`, the squares computed on the
    /// fly with the same operations `_var` uses (`x = arr - mean; x = x * x`).
    static func pairwiseSumOfSquaredDeviations(_ x: UnsafePointer<Double>, count m: Int, mean: Double) -> Double {
        pairwise(x, count: m, squaredDeviationsFrom: mean)
    }

    /// One term: `v`, or `(v - mean) * (v - mean)` when summing squared deviations.
    @inline(__always)
    private static func term(_ v: Double, _ mean: Double?) -> Double {
        guard let mean else { return v }
        let d = v - mean
        return d * d
    }

    private static func pairwise(_ x: UnsafePointer<Double>, count m: Int, squaredDeviationsFrom mean: Double?) -> Double {
        if m < 8 {
            var res = 0.0
            var i = 0
            while i < m {
                res += term(x[i], mean)
                i += 1
            }
            return res
        }
        if m <= 128 {
            var r0 = term(x[0], mean), r1 = term(x[1], mean), r2 = term(x[2], mean), r3 = term(x[3], mean)
            var r4 = term(x[4], mean), r5 = term(x[5], mean), r6 = term(x[6], mean), r7 = term(x[7], mean)
            var i = 8
            let blocked = m - m % 8
            while i < blocked {
                r0 += term(x[i], mean); r1 += term(x[i + 1], mean); r2 += term(x[i + 2], mean); r3 += term(x[i + 3], mean)
                r4 += term(x[i + 4], mean); r5 += term(x[i + 5], mean); r6 += term(x[i + 6], mean); r7 += term(x[i + 7], mean)
                i += 8
            }
            var res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < m {
                res += term(x[i], mean)
                i += 1
            }
            return res
        }
        var m2 = m / 2
        m2 -= m2 % 8
        return pairwise(x, count: m2, squaredDeviationsFrom: mean)
            + pairwise(x + m2, count: m - m2, squaredDeviationsFrom: mean)
    }

    /// Mean and population standard deviation as numpy computes them:
    /// `mean = sum(x) / m`, `std = sqrt(sum((x - mean)^2) / m)`.
    static func meanAndStd(_ x: UnsafePointer<Double>, count m: Int) -> (mean: Double, std: Double) {
        let mean = pairwiseSum(x, count: m) / Double(m)
        let variance = pairwiseSumOfSquaredDeviations(x, count: m, mean: mean) / Double(m)
        return (mean, variance.squareRoot())
    }

    /// `x = (x - mean) / (std + eps)` in place over `x[0 ..< m]`.
    static func standardizeInPlace(_ x: UnsafeMutablePointer<Double>, count m: Int, eps: Double) {
        let (mean, std) = meanAndStd(x, count: m)
        let denominator = std + eps
        var i = 0
        while i < m {
            x[i] = (x[i] - mean) / denominator
            i += 1
        }
    }
}
