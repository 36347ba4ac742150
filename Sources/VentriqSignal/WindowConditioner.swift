/// The trainer's preprocessing chain for one window shape: high-pass (`sosfiltfilt`), mains notch
/// (`filtfilt`), Savitzky-Golay (`mode="interp"`), z-score, all in float64 in the operation order
/// of scipy 1.17.1 / numpy 2.4 (see `training/ventriq_training/preprocess.py`), float32 out.
///
/// Leads are filtered four at a time on a leads-interleaved buffer (`LeadGroupFilters.swift`):
/// the IIR filters are latency-bound chains, and four independent ones overlap. Every lead gets
/// exactly the one-lead scalar operations in their order, so the result has the same bits as
/// filtering one lead at a time (`referenceRun`, which the tests compare against). A last group
/// with fewer than four leads repeats its last lead in the spare lanes.
///
/// Ownership: a final class that owns every buffer it uses (float64 scratch for four extended
/// leads interleaved, the filtered window, the coefficients), allocated once in `init` and freed
/// in `deinit`.
/// The `condition` calls allocate nothing on the heap, so they can run per window on the hot path.
/// An instance is not safe to use from two threads at once (the scratch is shared); make one per
/// worker.
///
/// Parity with `ventriq_training.preprocess.preprocess_float64`: bit-identical except the
/// `2 * (savgol_window / 2)` Savitzky-Golay edge samples of each lead (scipy fits those by least
/// squares, the runtime applies the exported edge maps; they agree to ~1e-14 of the signal's
/// scale), and through the z-score's mean and standard deviation those edges can move the last bit
/// of other samples; in float32 that shows at most as 1 ulp.
public final class WindowConditioner {
    /// The spec this conditioner runs.
    public let spec: ConditioningSpec
    /// Leads per window (rows of the lead-major input).
    public let leadCount: Int
    /// Samples per lead.
    public let sampleCount: Int
    /// The shortest window the chain accepts (`min_length` of the spec).
    public var minimumSampleCount: Int { plan.minLength }
    /// Number of values in an input or output buffer: `leadCount * sampleCount`.
    public var valueCount: Int { leadCount * sampleCount }

    private let plan: ConditioningPlan
    private let perRecording: Bool
    private let eps: Double
    private let highpassPad: Int
    private let notchPad: Int

    // Owned buffers.
    private let sosCoefficients: UnsafeMutablePointer<Double>
    private let sosZi: UnsafeMutablePointer<Double>
    private let sosState: UnsafeMutablePointer<Double>
    private let savgolCoefficients: UnsafeMutablePointer<Double>
    private let savgolLeft: UnsafeMutablePointer<Double>
    private let savgolRight: UnsafeMutablePointer<Double>
    /// Four leads, interleaved (`lanes[k][j]` is sample k of the group's lead j), odd-extended,
    /// for the high-pass and then (re-padded) the notch.
    private let lanes: UnsafeMutablePointer<LeadLanes>
    private let extendedCapacity: Int
    /// The filtered window before the float32 cast (`leadCount * sampleCount`).
    private let filtered: UnsafeMutablePointer<Double>

    private let highpass: SOSCascade
    private let notch: Biquad?
    private let savgol: SavitzkyGolay

    /// Validates `spec` and allocates every buffer for windows of `leadCount` x `sampleCount`.
    ///
    /// Throws `SignalError.invalidShape` for counts below 1, `.signalTooShort` when `sampleCount`
    /// is below the spec's `min_length`, and the spec errors of `ConditioningSpec.validate()`.
    public init(spec: ConditioningSpec, leadCount: Int, sampleCount: Int) throws(SignalError) {
        guard leadCount >= 1, sampleCount >= 1 else {
            throw .invalidShape(leadCount: leadCount, sampleCount: sampleCount)
        }
        let plan = try ConditioningPlan(spec)
        guard sampleCount >= plan.minLength else {
            throw .signalTooShort(samples: sampleCount, minimum: plan.minLength)
        }
        self.spec = spec
        self.plan = plan
        self.leadCount = leadCount
        self.sampleCount = sampleCount
        perRecording = plan.zscore == .perRecording
        eps = plan.zscoreEps
        highpassPad = plan.highpassPadlen
        notchPad = plan.notchPadlen

        sosCoefficients = Self.copy(plan.sos)
        sosZi = Self.copy(plan.sosZi)
        sosState = .allocate(capacity: 2 * plan.sections)
        sosState.initialize(repeating: 0, count: 2 * plan.sections)
        savgolCoefficients = Self.copy(plan.savgolCoeffs)
        savgolLeft = Self.copy(plan.savgolLeft)
        savgolRight = Self.copy(plan.savgolRight)
        extendedCapacity = sampleCount + 2 * max(plan.highpassPadlen, plan.notchPadlen)
        lanes = .allocate(capacity: extendedCapacity)
        lanes.initialize(repeating: .zero, count: extendedCapacity)
        filtered = .allocate(capacity: leadCount * sampleCount)
        filtered.initialize(repeating: 0, count: leadCount * sampleCount)

        highpass = SOSCascade(
            coefficients: sosCoefficients, zi: sosZi, state: sosState, sections: plan.sections)
        if let n = plan.notch, let zi = plan.notchZi {
            notch = Biquad(b0: n[0], b1: n[1], b2: n[2], a1: n[3], a2: n[4], zi0: zi[0], zi1: zi[1])
        } else {
            notch = nil
        }
        savgol = SavitzkyGolay(
            window: plan.savgolWindow, coefficients: savgolCoefficients, left: savgolLeft, right: savgolRight)
    }

    deinit {
        for p in [sosCoefficients, sosZi, sosState, savgolCoefficients, savgolLeft, savgolRight, filtered] {
            p.deallocate()
        }
        lanes.deallocate()
    }

    private static func copy(_ values: [Double]) -> UnsafeMutablePointer<Double> {
        let p = UnsafeMutablePointer<Double>.allocate(capacity: max(values.count, 1))
        p.initialize(repeating: 0, count: max(values.count, 1))
        for (i, v) in values.enumerated() { p[i] = v }
        return p
    }

    // MARK: - Public calls (no heap allocation on success)

    /// Conditions one lead-major float32 window (`leadCount` rows of `sampleCount` millivolt
    /// samples) into `output` (same layout), which may be the same memory as `input`.
    ///
    /// Computes in float64 and casts to float32 once (round to nearest). Allocates nothing.
    /// Throws `.bufferSizeMismatch` when either buffer does not hold `leadCount * sampleCount`
    /// values and `.nonFiniteSample` naming the first NaN or infinity (lead-major order); on a
    /// throw `output` is left unchanged.
    public func condition(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws(SignalError) {
        try check(inputCount: input.count, outputCount: output.count, output: "output")
        let x = input.baseAddress!
        try checkFinite(x)
        run(x, into: filtered, zscore: true)
        let out = output.baseAddress!
        var i = 0
        while i < valueCount {
            out[i] = Float(filtered[i])
            i += 1
        }
    }

    /// As `condition(_:into:)`, but writes the float64 values before the float32 cast (what
    /// `preprocess_float64` returns). Allocates nothing.
    public func conditionFloat64(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Double>) throws(SignalError) {
        try check(inputCount: input.count, outputCount: output.count, output: "output")
        let x = input.baseAddress!
        try checkFinite(x)
        run(x, into: output.baseAddress!, zscore: true)
    }

    /// Steps 1-3 only (high-pass, notch, Savitzky-Golay; no z-score), float64 out: the trainer's
    /// `filter_chain`, for diagnostics and parity tests. Allocates nothing.
    public func filterFloat64(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Double>) throws(SignalError) {
        try check(inputCount: input.count, outputCount: output.count, output: "output")
        let x = input.baseAddress!
        try checkFinite(x)
        run(x, into: output.baseAddress!, zscore: false)
    }

    /// `conditionFloat64` (`zscore`) or `filterFloat64` computed one lead at a time by the scalar
    /// filters: the reference the tests hold the grouped path to, bit for bit. Internal.
    func referenceFloat64(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Double>, zscore: Bool) throws(SignalError) {
        try check(inputCount: input.count, outputCount: output.count, output: "output")
        let x = input.baseAddress!
        try checkFinite(x)
        referenceRun(x, into: output.baseAddress!, zscore: zscore)
    }

    /// Convenience for callers off the hot path: conditions `input` (lead-major) into a new array.
    /// Allocates the result.
    public func condition(_ input: [Float]) throws(SignalError) -> [Float] {
        var output = [Float](repeating: 0, count: valueCount)
        try input.withUnsafeBufferPointer { (src) throws(SignalError) in
            try output.withUnsafeMutableBufferPointer { (dst) throws(SignalError) in
                try condition(src, into: dst)
            }
        }
        return output
    }

    // MARK: - The chain

    @inline(__always)
    private func check(inputCount: Int, outputCount: Int, output name: StaticString) throws(SignalError) {
        if inputCount != valueCount {
            throw .bufferSizeMismatch(buffer: "input", expected: valueCount, actual: inputCount)
        }
        if outputCount != valueCount {
            throw .bufferSizeMismatch(buffer: "\(name)", expected: valueCount, actual: outputCount)
        }
    }

    /// The first non-finite value in lead-major order, as the trainer reports it.
    ///
    /// Tests blocks of 256 values without a branch per value (a loop the compiler vectorizes:
    /// a float is not finite exactly when its exponent bits are all ones), and scans a block
    /// that has one for the first.
    @inline(__always)
    private func checkFinite(_ x: UnsafePointer<Float>) throws(SignalError) {
        let exponent: UInt32 = 0x7F80_0000
        var start = 0
        while start < valueCount {
            let end = min(start + 256, valueCount)
            var found: UInt32 = 0
            var i = start
            while i < end {
                found |= x[i].bitPattern & exponent == exponent ? 1 : 0
                i += 1
            }
            if found != 0 {
                i = start
                while x[i].isFinite { i += 1 }
                throw .nonFiniteSample(lead: i / sampleCount, sample: i % sampleCount, value: x[i])
            }
            start = end
        }
    }

    /// Runs the chain on every lead of `x` into `y` (float64, `valueCount` values), four leads at
    /// a time.
    private func run(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Double>, zscore: Bool) {
        var first = 0
        while first < leadCount {
            filterGroup(x, into: y, first: first)
            first += LeadLanes.scalarCount
        }
        if zscore { standardize(y) }
    }

    /// `run` one lead at a time with the scalar filters: the computation the grouped path must
    /// reproduce bit for bit (internal, for the tests). The caller checks the buffers.
    func referenceRun(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Double>, zscore: Bool) {
        let n = sampleCount
        // One lead's odd-extended scratch: the group scratch, a quarter of it seen as `Double`s.
        lanes.withMemoryRebound(to: Double.self, capacity: extendedCapacity) { extended in
            var lead = 0
            while lead < leadCount {
                filterLead(x + lead * n, into: y + lead * n, scratch: extended)
                lead += 1
            }
        }
        if zscore { standardize(y) }
    }

    /// Step 4 on the filtered window `y`.
    private func standardize(_ y: UnsafeMutablePointer<Double>) {
        let n = sampleCount
        if perRecording {
            ZScore.standardizeInPlace(y, count: valueCount, eps: eps)
        } else {
            var lead = 0
            while lead < leadCount {
                ZScore.standardizeInPlace(y + lead * n, count: n, eps: eps)
                lead += 1
            }
        }
    }

    /// Steps 1-3 on leads `first ..< first + 4` (those below `leadCount`), one per lane; the
    /// same operations as `filterLead` on each.
    private func filterGroup(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Double>, first: Int) {
        let n = sampleCount
        let (l0, l1, l2, l3) = leadGroup(first: first, count: leadCount)
        let x0 = x + l0 * n, x1 = x + l1 * n, x2 = x + l2 * n, x3 = x + l3 * n
        // 1. High-pass.
        var pad = highpassPad
        var signal = lanes + pad
        var i = 0
        while i < n {
            signal[i] = LeadLanes(Double(x0[i]), Double(x1[i]), Double(x2[i]), Double(x3[i]))
            i += 1
        }
        oddExtendInPlace(lanes, count: n, pad: pad)
        highpass.filtfiltInPlace(lanes, length: n + 2 * pad)
        // 2. Notch.
        if let notch {
            let notchSignal = lanes + notchPad
            if notchPad != pad {
                notchSignal.update(from: signal, count: n)
            }
            pad = notchPad
            signal = notchSignal
            oddExtendInPlace(lanes, count: n, pad: pad)
            notch.filtfiltInPlace(lanes, length: n + 2 * pad)
        }
        // 3. Savitzky-Golay into the output rows.
        savgol.apply(signal, count: n, into: LaneRows(r0: y + l0 * n, r1: y + l1 * n, r2: y + l2 * n, r3: y + l3 * n))
    }

    /// Steps 1-3 on one lead (the reference), `extended` holding `extendedCapacity` values.
    private func filterLead(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Double>, scratch extended: UnsafeMutablePointer<Double>) {
        let n = sampleCount
        // 1. High-pass: odd extension by padlen, sosfiltfilt in place.
        var pad = highpassPad
        var signal = extended + pad
        var i = 0
        while i < n {
            signal[i] = Double(x[i])
            i += 1
        }
        oddExtendInPlace(extended, count: n, pad: pad)
        highpass.filtfiltInPlace(extended, length: n + 2 * pad)
        // 2. Notch: move the stripped signal to its own padding, filtfilt in place.
        if let notch {
            let notchSignal = extended + notchPad
            if notchPad != pad {
                // Overlapping move (memmove semantics).
                notchSignal.update(from: signal, count: n)
            }
            pad = notchPad
            signal = notchSignal
            oddExtendInPlace(extended, count: n, pad: pad)
            notch.filtfiltInPlace(extended, length: n + 2 * pad)
        }
        // 3. Savitzky-Golay into the output.
        savgol.apply(signal, count: n, into: y)
    }
}
