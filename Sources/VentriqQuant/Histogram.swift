/// A histogram of |x| over [0, range] in equal bins: what the activation calibration methods read.
public struct AbsoluteHistogram: Sendable, Equatable {
    public let range: Double
    public private(set) var counts: [Double]
    public var binWidth: Double { range / Double(counts.count) }
    public var total: Double { counts.reduce(0, +) }

    public init(range: Double, bins: Int = 2048) {
        precondition(bins > 0)
        self.range = range > 0 ? range : 1
        counts = [Double](repeating: 0, count: bins)
    }

    /// Adds |v| for every value (values beyond `range` land in the last bin).
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let scale = Double(counts.count) / range
        let last = counts.count - 1
        counts.withUnsafeMutableBufferPointer { c in
            for v in values {
                let b = Int(Double(abs(v)) * scale)
                c[min(b, last)] += 1
            }
        }
    }
}

/// How an activation's clipping threshold T is chosen (scale = T / 127).
public enum CalibrationMethod: Sendable, Equatable {
    /// T = max |x| seen.
    case minmax
    /// T = the given percentile of |x| (e.g. 99.99).
    case percentile(Double)
    /// T minimising the KL divergence between the clipped distribution of |x| and its 128-level
    /// quantization (TensorRT's entropy calibration).
    case entropy
    /// T minimising the expected squared error: uniform rounding error (T/127)^2/12 inside the
    /// range plus the clipping error (|x| - T)^2 outside.
    case mse

    public var name: String {
        switch self {
        case .minmax: return "minmax"
        case .percentile: return "percentile"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    public var percentileValue: Double? {
        if case .percentile(let p) = self { return p }
        return nil
    }

    /// The threshold for a histogram of |x| whose largest value is `absMax`.
    public func threshold(_ h: AbsoluteHistogram, absMax: Double) -> Double {
        let total = h.total
        guard absMax > 0, total > 0 else { return absMax > 0 ? absMax : 1e-8 }
        let w = h.binWidth
        switch self {
        case .minmax:
            return absMax
        case .percentile(let p):
            let target = total * p / 100
            var cumulative = 0.0
            for (i, c) in h.counts.enumerated() {
                cumulative += c
                if cumulative >= target { return min(absMax, Double(i + 1) * w) }
            }
            return absMax
        case .entropy:
            return Self.entropyThreshold(h.counts, binWidth: w, absMax: absMax)
        case .mse:
            var best = absMax, bestError = Double.infinity
            let n = h.counts.count
            let centres = (0..<n).map { (Double($0) + 0.5) * w }
            for j in stride(from: 8, through: n, by: 8) {
                let t = Double(j) * w
                let step = t / 127
                var error = 0.0
                for i in 0..<n where h.counts[i] > 0 {
                    let c = centres[i]
                    error += h.counts[i] * (c <= t ? step * step / 12 : (c - t) * (c - t))
                }
                if error < bestError { bestError = error; best = t }
            }
            return min(best, absMax)
        }
    }

    /// TensorRT / MXNet entropy calibration on the |x| histogram, 128 quantized levels.
    static func entropyThreshold(_ hist: [Double], binWidth w: Double, absMax: Double) -> Double {
        let n = hist.count, levels = 128
        guard n > levels else { return absMax }
        var best = n, bestKL = Double.infinity
        var p = [Double](repeating: 0, count: n), q = [Double](repeating: 0, count: n)
        var suffix = [Double](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + hist[i] }
        for i in levels...n {
            // Reference: the first i bins, everything beyond folded into the last one.
            for k in 0..<i { p[k] = hist[k] }
            p[i - 1] += suffix[i]
            // Candidate: the first i bins merged into `levels` groups, each group's mass spread
            // evenly over its non-empty bins.
            let merged = Double(i) / Double(levels)
            for j in 0..<levels {
                let start = Int(Double(j) * merged), stop = j == levels - 1 ? i : Int(Double(j + 1) * merged)
                var mass = 0.0, nonEmpty = 0
                for k in start..<stop where hist[k] > 0 { mass += hist[k]; nonEmpty += 1 }
                for k in start..<stop { q[k] = hist[k] > 0 && nonEmpty > 0 ? mass / Double(nonEmpty) : 0 }
            }
            var sp = 0.0, sq = 0.0
            for k in 0..<i { sp += p[k]; sq += q[k] }
            guard sp > 0, sq > 0 else { continue }
            var kl = 0.0
            for k in 0..<i where p[k] > 0 {
                let pk = p[k] / sp
                let qk = q[k] > 0 ? q[k] / sq : 1e-12
                kl += pk * log(pk / qk)
            }
            if kl < bestKL { bestKL = kl; best = i }
        }
        return min(Double(best) * w, absMax)
    }
}

import Foundation
