/// scipy's zero-phase filters, `sosfiltfilt` (high-pass) and `filtfilt` (notch), with their
/// default odd padding, written so that every floating-point operation happens in scipy 1.17.1's
/// order (see `training/ventriq_training/preprocess.py`, steps 1 and 2). Swift does not contract
/// `a * b + c` into fused multiply-adds unless asked to, which these loops rely on.
///
/// Internal: they work in place on buffers the `WindowConditioner` owns and allocate nothing.

/// Odd extension in place (scipy `odd_ext`). `ext` holds `n + 2 * pad` values with the signal
/// already at `ext[pad ..< pad + n]`; fills `ext[k] = 2*x[0] - x[pad-k]` and
/// `ext[pad+n+k] = 2*x[n-1] - x[n-2-k]` for `k < pad`. Needs `n > pad`.
@inline(__always)
func oddExtendInPlace(_ ext: UnsafeMutablePointer<Double>, count n: Int, pad: Int) {
    let x = ext + pad
    let first = x[0], last = x[n - 1]
    var k = 0
    while k < pad {
        ext[k] = 2 * first - x[pad - k]
        x[n + k] = 2 * last - x[n - 2 - k]
        k += 1
    }
}

/// A cascade of second-order sections (`sosfilt`), coefficients and state in buffers owned by
/// someone else (the conditioner).
struct SOSCascade {
    /// 5 values per section: b0, b1, b2, a1, a2.
    let coefficients: UnsafePointer<Double>
    /// `sosfilt_zi`, 2 values per section.
    let zi: UnsafePointer<Double>
    /// Scratch for the running state, 2 values per section.
    let state: UnsafeMutablePointer<Double>
    let sections: Int

    /// `state = zi * scale`, as scipy's `zi * x_0`.
    @inline(__always)
    private func start(scaledBy scale: Double) {
        var i = 0
        while i < 2 * sections {
            state[i] = zi[i] * scale
            i += 1
        }
    }

    /// One sample through the cascade (transposed direct form II, `_sosfilt.pyx` order).
    @inline(__always)
    private func step(_ input: Double) -> Double {
        var v = input
        var s = 0
        while s < sections {
            let c = coefficients + 5 * s
            let z = state + 2 * s
            let out = c[0] * v + z[0]
            z[0] = (c[1] * v - c[3] * out) + z[1]
            z[1] = c[2] * v - c[4] * out
            v = out
            s += 1
        }
        return v
    }

    /// `sosfiltfilt` on an odd-extended buffer of `length` values, in place: forward pass from
    /// `zi * ext[0]`, then the backward pass (run from the end, which is scipy's reverse, filter,
    /// reverse) from `zi * forward[length - 1]`.
    func filtfiltInPlace(_ ext: UnsafeMutablePointer<Double>, length: Int) {
        start(scaledBy: ext[0])
        var k = 0
        while k < length {
            ext[k] = step(ext[k])
            k += 1
        }
        start(scaledBy: ext[length - 1])
        k = length - 1
        while k >= 0 {
            ext[k] = step(ext[k])
            k -= 1
        }
    }
}

/// A 3-tap IIR filter run by scipy's C `lfilter` (`DOUBLE_filt`), a0 = 1.
struct Biquad {
    let b0: Double, b1: Double, b2: Double, a1: Double, a2: Double
    /// `lfilter_zi`.
    let zi0: Double, zi1: Double

    /// `filtfilt` (method "pad") on an odd-extended buffer of `length` values, in place.
    func filtfiltInPlace(_ ext: UnsafeMutablePointer<Double>, length: Int) {
        var z0 = zi0 * ext[0], z1 = zi1 * ext[0]
        var k = 0
        while k < length {
            let v = ext[k]
            let out = z0 + b0 * v
            z0 = z1 + v * b1 - out * a1
            z1 = v * b2 - out * a2
            ext[k] = out
            k += 1
        }
        let last = ext[length - 1]
        z0 = zi0 * last
        z1 = zi1 * last
        k = length - 1
        while k >= 0 {
            let v = ext[k]
            let out = z0 + b0 * v
            z0 = z1 + v * b1 - out * a1
            z1 = v * b2 - out * a2
            ext[k] = out
            k -= 1
        }
    }
}
