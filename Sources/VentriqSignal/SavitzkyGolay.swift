/// scipy's `savgol_filter(x, window, order)` with its default `mode="interp"` (step 3 of
/// `training/ventriq_training/preprocess.py`): the interior is the convolution as
/// `scipy.ndimage`'s `NI_Correlate1D` evaluates it, the `window / 2` samples at each end are the
/// polynomial edge fits, applied as the exported linear maps (`savgol_edge_left/right`).
///
/// Internal; reads coefficient buffers owned by the `WindowConditioner`, allocates nothing.
struct SavitzkyGolay {
    /// How ndimage evaluates the kernel: it tests the (reversed) weights for symmetry and
    /// anti-symmetry to within DBL_EPSILON and folds the sum when it can.
    enum Symmetry: Equatable {
        case symmetric, antisymmetric, general
    }

    let window: Int
    /// The convolution kernel `c` (length `window`).
    let coefficients: UnsafePointer<Double>
    /// Edge maps, row-major, (window / 2) x window each.
    let left: UnsafePointer<Double>
    let right: UnsafePointer<Double>
    let symmetry: Symmetry

    init(window: Int, coefficients: UnsafePointer<Double>, left: UnsafePointer<Double>, right: UnsafePointer<Double>) {
        self.window = window
        self.coefficients = coefficients
        self.left = left
        self.right = right
        self.symmetry = Self.classify(UnsafeBufferPointer(start: coefficients, count: window))
    }

    /// ndimage's test, on `c` (reversing the kernel swaps the pairs it compares, so the answer is
    /// the same as on the reversed weights ndimage holds).
    static func classify(_ c: UnsafeBufferPointer<Double>) -> Symmetry {
        let h = c.count / 2
        let eps = Double.ulpOfOne  // DBL_EPSILON
        var symmetric = true
        for i in 1 ... h where abs(c[h + i] - c[h - i]) > eps {
            symmetric = false
            break
        }
        if symmetric { return .symmetric }
        for i in 1 ... h where abs(c[h + i] + c[h - i]) > eps {
            return .general
        }
        return .antisymmetric
    }

    /// `y[0 ..< n] = savgol_filter(x[0 ..< n])`; `x` and `y` must not overlap; needs n >= window.
    func apply(_ x: UnsafePointer<Double>, count n: Int, into y: UnsafeMutablePointer<Double>) {
        let h = window / 2
        let c = coefficients
        // Interior: ndimage correlates with the reversed kernel; written in terms of c, the
        // folded sum runs j = h, h-1, ..., 1 over (x[i-j] +/- x[i+j]) * c[h+j].
        var i = h
        switch symmetry {
        case .symmetric:
            while i < n - h {
                var acc = x[i] * c[h]
                var j = h
                while j > 0 {
                    acc += (x[i - j] + x[i + j]) * c[h + j]
                    j -= 1
                }
                y[i] = acc
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
                y[i] = acc
                i += 1
            }
        case .general:
            // ndimage: oline = x[i+h] * w[2h]; then x[i+k] * w[h+k] for k = -h ..< h, with w the
            // reversed kernel (w[h+k] = c[h-k]).
            while i < n - h {
                var acc = x[i + h] * c[0]
                var k = -h
                while k < h {
                    acc += x[i + k] * c[h - k]
                    k += 1
                }
                y[i] = acc
                i += 1
            }
        }
        // Edges: left @ x[0 ..< window], right @ x[n - window ..< n].
        let tail = x + (n - window)
        var r = 0
        while r < h {
            let lrow = left + r * window, rrow = right + r * window
            var accL = 0.0, accR = 0.0
            var k = 0
            while k < window {
                accL += lrow[k] * x[k]
                accR += rrow[k] * tail[k]
                k += 1
            }
            y[r] = accL
            y[n - h + r] = accR
            r += 1
        }
    }
}
