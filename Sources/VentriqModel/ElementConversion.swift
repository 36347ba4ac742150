/// Exact conversions of 16-bit floating-point bit patterns to `Float`.
///
/// Both formats are subsets of binary32, so every value (subnormals, infinities, signed zeros)
/// converts exactly. NaNs keep their sign and payload bits (shifted into the top of the binary32
/// significand) and are not quieted, as numpy's float16 -> float32 and torch's bfloat16 ->
/// float32 conversions do; the result is the same on every CPU, with or without F16C.
public enum HalfPrecision {
    /// IEEE 754 binary16 (safetensors `F16`) to `Float`.
    @inline(__always)
    public static func float(fromF16Bits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        var significand = UInt32(bits & 0x03FF)
        if exponent == 0x1F {  // infinity or NaN
            return Float(bitPattern: sign | 0x7F80_0000 | significand << 13)
        }
        if exponent != 0 {  // normal: rebias 15 -> 127
            return Float(bitPattern: sign | (exponent + 112) << 23 | significand << 13)
        }
        if significand == 0 { return Float(bitPattern: sign) }  // signed zero
        // Subnormal (significand x 2^-24): normalise into a binary32 normal number.
        var biased: UInt32 = 113
        while significand & 0x0400 == 0 {
            significand <<= 1
            biased -= 1
        }
        return Float(bitPattern: sign | biased << 23 | (significand & 0x03FF) << 13)
    }

    /// bfloat16 (safetensors `BF16`, the top half of a binary32) to `Float`.
    @inline(__always)
    public static func float(fromBF16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
