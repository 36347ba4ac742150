/// The filters of `ZeroPhaseFilters.swift` and `SavitzkyGolay.swift` run on four leads at once,
/// on a leads-interleaved buffer of `SIMD4<Double>` (`ext[k][j]` is sample k of lane j's lead).
///
/// Why: each IIR filter is one long dependency chain per lead (every output needs the previous
/// one), so one lead at a time leaves the floating-point units waiting on latency; four
/// independent chains in one loop overlap for about the cost of one. The Savitzky-Golay sums
/// gain from doing four leads per vector operation.
///
/// Bit-identical to the scalar versions, lane by lane: every lane sees the scalar code's
/// floating-point operations in the scalar code's order, and vector arithmetic rounds each lane
/// as the scalar operation would (`a * b + c` stays a multiply and an add; Swift does not fuse
/// them). The scalar versions stay as the reference (`WindowConditioner.referenceRun`, the
/// tests).
///
/// The IIR loops are written as four scalar chains per sample (the buffer seen as `Double`s):
/// Swift lowers `SIMD4<Double>` arithmetic lane by lane and LLVM re-forms the vectors, and for
/// these recurrences the `SIMD4` form came out with lane shuffles on the critical path, while
/// four scalar chains become clean two-lane vector code (4 leads in about the time of 1; the
/// form changes the speed only, never the bits).
///
/// Internal; they work in place on buffers the `WindowConditioner` owns and allocate nothing.

/// Four leads' float64 samples, one per lane.
typealias LeadLanes = SIMD4<Double>

/// The leads in the four lanes of the group that starts at lead `first` of `count`: a short last
/// group repeats lead `count - 1` in its spare lanes, which compute its values again and store
/// the same bits to the same place.
@inline(__always)
func leadGroup(first: Int, count: Int) -> (Int, Int, Int, Int) {
    let last = count - 1
    return (min(first, last), min(first + 1, last), min(first + 2, last), min(first + 3, last))
}

/// `oddExtendInPlace` on every lane.
@inline(__always)
func oddExtendInPlace(_ ext: UnsafeMutablePointer<LeadLanes>, count n: Int, pad: Int) {
    let x = ext + pad
    let first = x[0], last = x[n - 1]
    var k = 0
    while k < pad {
        ext[k] = 2 * first - x[pad - k]
        x[n + k] = 2 * last - x[n - 2 - k]
        k += 1
    }
}

/// The two state values of a second-order filter on one lane.
struct LaneState {
    var z0: Double, z1: Double

    /// `zi * x0`, as scipy starts a pass.
    @inline(__always)
    init(zi0: Double, zi1: Double, scale: Double) {
        z0 = zi0 * scale
        z1 = zi1 * scale
    }
}

extension SOSCascade {
    /// `filtfiltInPlace` on every lane. Instead of taking each sample through all sections in
    /// turn, it runs the sections over the whole buffer two at a time (then a last one when the
    /// count is odd), with the state in local variables, so it stays in registers (the scalar
    /// loop keeps it in `state`, through memory). The values are the same: a section's outputs
    /// depend only on its inputs and its starting state, and every section starts from
    /// `zi * ext[0]` going forward and `zi * forward[length - 1]` going back, taken before the
    /// pass starts overwriting the buffer.
    func filtfiltInPlace(_ ext: UnsafeMutablePointer<LeadLanes>, length: Int) {
        let first = ext[0]
        pass(ext, length: length, backward: false, scale: first)
        let last = ext[length - 1]
        pass(ext, length: length, backward: true, scale: last)
    }

    /// The whole cascade over `ext`, front to back or back to front, every section starting
    /// from `zi * scale`.
    private func pass(_ ext: UnsafeMutablePointer<LeadLanes>, length: Int, backward: Bool, scale: LeadLanes) {
        ext.withMemoryRebound(to: Double.self, capacity: 4 * length) { values in
            let start = backward ? values + 4 * (length - 1) : values
            let step = backward ? -4 : 4
            var s = 0
            while s + 1 < sections {
                let one = Section(coefficients + 5 * s), two = Section(coefficients + 5 * (s + 1))
                var z = startState(s, scale), w = startState(s + 1, scale)
                var p = start
                var k = 0
                while k < length {
                    p[0] = two.step(one.step(p[0], &z.0), &w.0)
                    p[1] = two.step(one.step(p[1], &z.1), &w.1)
                    p[2] = two.step(one.step(p[2], &z.2), &w.2)
                    p[3] = two.step(one.step(p[3], &z.3), &w.3)
                    p += step
                    k += 1
                }
                s += 2
            }
            if s < sections {
                let one = Section(coefficients + 5 * s)
                var z = startState(s, scale)
                var p = start
                var k = 0
                while k < length {
                    p[0] = one.step(p[0], &z.0)
                    p[1] = one.step(p[1], &z.1)
                    p[2] = one.step(p[2], &z.2)
                    p[3] = one.step(p[3], &z.3)
                    p += step
                    k += 1
                }
            }
        }
    }

    /// Section `s`'s starting state on the four lanes (`start(scaledBy:)`: `zi[i] * scale`).
    @inline(__always)
    private func startState(_ s: Int, _ scale: LeadLanes) -> (LaneState, LaneState, LaneState, LaneState) {
        let z0 = zi[2 * s], z1 = zi[2 * s + 1]
        return (LaneState(zi0: z0, zi1: z1, scale: scale[0]), LaneState(zi0: z0, zi1: z1, scale: scale[1]),
                LaneState(zi0: z0, zi1: z1, scale: scale[2]), LaneState(zi0: z0, zi1: z1, scale: scale[3]))
    }

    /// One section's coefficients.
    private struct Section {
        let b0: Double, b1: Double, b2: Double, a1: Double, a2: Double

        @inline(__always)
        init(_ c: UnsafePointer<Double>) {
            (b0, b1, b2, a1, a2) = (c[0], c[1], c[2], c[3], c[4])
        }

        /// `SOSCascade.step`'s operations for this section on one lane.
        @inline(__always)
        func step(_ v: Double, _ z: inout LaneState) -> Double {
            let out = b0 * v + z.z0
            z.z0 = (b1 * v - a1 * out) + z.z1
            z.z1 = b2 * v - a2 * out
            return out
        }
    }
}

extension Biquad {
    /// `filtfiltInPlace` on every lane.
    func filtfiltInPlace(_ ext: UnsafeMutablePointer<LeadLanes>, length: Int) {
        ext.withMemoryRebound(to: Double.self, capacity: 4 * length) { values in
            pass(values, length: length, backward: false)
            pass(values, length: length, backward: true)
        }
    }

    /// One direction over the four lanes, starting from `zi *` the first value met.
    private func pass(_ values: UnsafeMutablePointer<Double>, length: Int, backward: Bool) {
        var p = backward ? values + 4 * (length - 1) : values
        let step = backward ? -4 : 4
        var z0 = LaneState(zi0: zi0, zi1: zi1, scale: p[0]), z1 = LaneState(zi0: zi0, zi1: zi1, scale: p[1])
        var z2 = LaneState(zi0: zi0, zi1: zi1, scale: p[2]), z3 = LaneState(zi0: zi0, zi1: zi1, scale: p[3])
        var k = 0
        while k < length {
            p[0] = self.step(p[0], &z0)
            p[1] = self.step(p[1], &z1)
            p[2] = self.step(p[2], &z2)
            p[3] = self.step(p[3], &z3)
            p += step
            k += 1
        }
    }

    /// The scalar loop's operations on one lane.
    @inline(__always)
    private func step(_ v: Double, _ z: inout LaneState) -> Double {
        let out = z.z0 + b0 * v
        z.z0 = z.z1 + v * b1 - out * a1
        z.z1 = v * b2 - out * a2
        return out
    }
}

/// Four output rows, one per lane; rows may repeat (a lane that repeats another's lead computes
/// the same values, so storing them twice is harmless).
struct LaneRows {
    var r0, r1, r2, r3: UnsafeMutablePointer<Double>

    @inline(__always)
    func store(_ v: LeadLanes, at i: Int) {
        r0[i] = v[0]
        r1[i] = v[1]
        r2[i] = v[2]
        r3[i] = v[3]
    }
}

extension SavitzkyGolay {
    /// `apply` on every lane of `x`, lane j into `y` row j: the same sums in the same order per
    /// output, four leads per vector operation.
    func apply(_ x: UnsafePointer<LeadLanes>, count n: Int, into y: LaneRows) {
        let h = window / 2
        let c = coefficients
        var i = h
        switch symmetry {
        case .symmetric:
            // Two outputs per iteration (each its own sum, in the same order), so that their
            // chains of additions overlap and the loop overhead is shared.
            while i + 1 < n - h {
                let p = x + i, q = x + (i + 1)
                var acc = p[0] * c[h], acc2 = q[0] * c[h]
                var j = h
                while j > 0 {
                    let cj = c[h + j]
                    acc += (p[-j] + p[j]) * cj
                    acc2 += (q[-j] + q[j]) * cj
                    j -= 1
                }
                y.store(acc, at: i)
                y.store(acc2, at: i + 1)
                i += 2
            }
            while i < n - h {
                let p = x + i
                var acc = p[0] * c[h]
                var j = h
                while j > 0 {
                    acc += (p[-j] + p[j]) * c[h + j]
                    j -= 1
                }
                y.store(acc, at: i)
                i += 1
            }
        case .antisymmetric:
            while i < n - h {
                var acc = x[i] * c[h]
                var j = h
                while j > 0 {
                    acc += (x[i - j] - x[i + j]) * c[h + j]
                    j -= 1
                }
                y.store(acc, at: i)
                i += 1
            }
        case .general:
            while i < n - h {
                var acc = x[i + h] * c[0]
                var k = -h
                while k < h {
                    acc += x[i + k] * c[h - k]
                    k += 1
                }
                y.store(acc, at: i)
                i += 1
            }
        }
        let tail = x + (n - window)
        var r = 0
        while r < h {
            let lrow = left + r * window, rrow = right + r * window
            var accL = LeadLanes.zero, accR = LeadLanes.zero
            var k = 0
            while k < window {
                accL += lrow[k] * x[k]
                accR += rrow[k] * tail[k]
                k += 1
            }
            y.store(accL, at: r)
            y.store(accR, at: n - h + r)
            r += 1
        }
    }
}
