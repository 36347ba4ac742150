import Foundation

/// WFDB signal storage formats (https://physionet.org/physiotools/wag/signal-5.htm), decoded
/// bit for bit as wfdb-python's `_rd_dat_signals` / `_blocks_to_samples` decode them.
enum WFDBFormat: Int, Sendable, Equatable, CaseIterable {
    /// 8-bit first differences; the samples are the running sum from the initial value.
    case difference8 = 8
    /// 16-bit two's complement, little-endian.
    case int16 = 16
    /// 24-bit two's complement, little-endian.
    case int24 = 24
    /// 32-bit two's complement, little-endian.
    case int32 = 32
    /// 16-bit two's complement, big-endian.
    case bigEndian16 = 61
    /// 8-bit offset binary (stored value - 128).
    case offset8 = 80
    /// 16-bit offset binary, little-endian (stored value - 32768).
    case offset16 = 160
    /// Two 12-bit samples in three bytes.
    case packed212 = 212
    /// Three 10-bit samples in two little-endian 16-bit words.
    case packed310 = 310
    /// Three 10-bit samples in one little-endian 32-bit word.
    case packed311 = 311

    static var supportedCodes: [Int] { allCases.map(\.rawValue) }

    /// The digital value that marks an invalid sample (read as NaN), per wfdb-python's
    /// `INVALID_SAMPLE_VALUE`; format 8 has none.
    var invalidSample: Int32? {
        switch self {
        case .difference8: return nil
        case .int16, .bigEndian16, .offset16: return -32768
        case .int24: return -(1 << 23)
        case .int32: return Int32.min
        case .offset8: return -128
        case .packed212: return -2048
        case .packed310, .packed311: return -512
        }
    }

    /// Bytes that hold the first `count` samples of a file (partial blocks need only the bytes
    /// their samples touch, as wfdb-python reads them).
    func byteCount(samples count: Int) -> Int {
        switch self {
        case .difference8, .offset8: return count
        case .int16, .bigEndian16, .offset16: return 2 * count
        case .int24: return 3 * count
        case .int32: return 4 * count
        case .packed212: return (3 * count + 1) / 2
        // The second sample of a 310 block has its top bits in the block's fourth byte.
        case .packed310: return 4 * (count / 3) + [0, 2, 4][count % 3]
        case .packed311: return 4 * (count / 3) + [0, 2, 3][count % 3]
        }
    }

    /// Whole samples in `bytes` bytes, as wfdb-python's `_infer_sig_len` counts them.
    func sampleCount(bytes: Int) -> Int {
        switch self {
        case .difference8, .offset8: return bytes
        case .int16, .bigEndian16, .offset16: return bytes / 2
        case .int24: return bytes / 3
        case .int32: return bytes / 4
        case .packed212: return 2 * bytes / 3
        case .packed310, .packed311: return 3 * bytes / 4
        }
    }

    /// Decodes the first `output.count` samples of `bytes` into `output` (format 8: the stored
    /// differences; the caller sums them per signal). `bytes` must hold `byteCount(samples:)`
    /// bytes. Allocates nothing.
    func decode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<Int32>) {
        let n = output.count
        guard n > 0, let out = output.baseAddress else { return }
        precondition(bytes.count >= byteCount(samples: n))
        let b = bytes.bindMemory(to: UInt8.self)
        @inline(__always) func u(_ i: Int) -> Int32 { Int32(b[i]) }
        switch self {
        case .difference8:
            for i in 0..<n { out[i] = Int32(Int8(bitPattern: b[i])) }
        case .offset8:
            for i in 0..<n { out[i] = u(i) - 128 }
        case .int16:
            for i in 0..<n { out[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) | UInt16(b[2 * i + 1]) << 8)) }
        case .bigEndian16:
            for i in 0..<n { out[i] = Int32(Int16(bitPattern: UInt16(b[2 * i]) << 8 | UInt16(b[2 * i + 1]))) }
        case .offset16:
            for i in 0..<n { out[i] = (u(2 * i) | u(2 * i + 1) << 8) - 32768 }
        case .int24:
            for i in 0..<n {
                // The high byte is signed and carries the sign into bits 24-31.
                out[i] = u(3 * i) | u(3 * i + 1) << 8 | Int32(Int8(bitPattern: b[3 * i + 2])) << 16
            }
        case .int32:
            for i in 0..<n {
                let word = UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16
                    | UInt32(b[4 * i + 3]) << 24
                out[i] = Int32(bitPattern: word)
            }
        case .packed212:
            // Sample pair k in bytes 3k..3k+2: low 8 bits in bytes 0 and 2, high nibbles in byte 1.
            var i = 0, j = 0
            while i < n {
                out[i] = signExtend(u(j) | (u(j + 1) & 0x0F) << 8, bits: 12)
                if i + 1 < n { out[i + 1] = signExtend(u(j + 2) | (u(j + 1) >> 4) << 8, bits: 12) }
                i += 2
                j += 3
            }
        case .packed310:
            // Words w0, w1: samples in bits 1-10 of each; the third sample's low 5 bits in bits
            // 11-15 of w0 and high 5 bits in bits 11-15 of w1.
            var i = 0, j = 0
            while i < n {
                let w0 = u(j) | u(j + 1) << 8
                out[i] = signExtend((w0 >> 1) & 0x3FF, bits: 10)
                if i + 1 < n {
                    let w1 = u(j + 2) | u(j + 3) << 8
                    out[i + 1] = signExtend((w1 >> 1) & 0x3FF, bits: 10)
                    if i + 2 < n { out[i + 2] = signExtend(w0 >> 11 | (w1 >> 11) << 5, bits: 10) }
                }
                i += 3
                j += 4
            }
        case .packed311:
            // One 32-bit word: samples in bits 0-9, 10-19, 20-29 (bits 30-31 unused).
            var i = 0, j = 0
            while i < n {
                let w0 = u(j) | u(j + 1) << 8
                out[i] = signExtend(w0 & 0x3FF, bits: 10)
                if i + 1 < n {
                    let w = w0 | u(j + 2) << 16
                    out[i + 1] = signExtend((w >> 10) & 0x3FF, bits: 10)
                    if i + 2 < n {
                        let w3 = w | (u(j + 3) & 0x3F) << 24
                        out[i + 2] = signExtend((w3 >> 20) & 0x3FF, bits: 10)
                    }
                }
                i += 3
                j += 4
            }
        }
    }
}

/// The two's complement value of the low `bits` bits of `value`.
@inline(__always)
private func signExtend(_ value: Int32, bits: Int32) -> Int32 {
    let shift = 32 - bits
    return (value << shift) >> shift
}
