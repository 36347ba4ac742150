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

    /// `term` of `x[0 ..< 4]`, one per lane.
    @inline(__always)
    private static func terms(_ x: UnsafePointer<Double>, _ mean: Double?) -> SIMD4<Double> {
        let v = SIMD4(x[0], x[1], x[2], x[3])
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
            // numpy's eight running sums r0 ... r7 (r_j adds x[j], x[j + 8], ...), held in the
            // lanes of two vectors (r0-r3, r4-r7) so that the additions run two or four at a
            // time; each lane adds the same terms in the same order.
            var lo = terms(x, mean), hi = terms(x + 4, mean)
            var i = 8
            let blocked = m - m % 8
            while i < blocked {
                lo += terms(x + i, mean)
                hi += terms(x + i + 4, mean)
                i += 8
            }
            var res = ((lo[0] + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]))
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
