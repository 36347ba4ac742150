import Foundation

/// Conversion of a voltage unit to millivolts.
enum VoltageUnit: Sendable, Equatable {
    case millivolt
    case microvolt
    case volt

    /// The unit a written unit string names (case-insensitive), or nil when it is not a voltage
    /// unit this runtime accepts.
    init?(_ text: String) {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "mv", "millivolt", "millivolts": self = .millivolt
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU both appear in the wild.
        case "uv", "\u{00B5}v", "\u{03BC}v", "microvolt", "microvolts": self = .microvolt
        case "v", "volt", "volts": self = .volt
        default: return nil
        }
    }

    /// `value` (in this unit) in millivolts, rounded once to Float.
    ///
    /// The scaling is done in Double before the single Float rounding, so the result equals
    /// numpy's `(p_signal / 1000).astype(float32)` bit for bit.
    @inline(__always)
    func millivolts(_ value: Double) -> Float {
        switch self {
        case .millivolt: return Float(value)
        case .microvolt: return Float(value / 1000)
        case .volt: return Float(value * 1000)
        }
    }
}
