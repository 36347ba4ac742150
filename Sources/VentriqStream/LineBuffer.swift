import Foundation

/// A fixed byte buffer that JSON lines are formatted into without allocating: numbers through
/// `snprintf` into the buffer itself, strings appended byte by byte. Written out with one
/// `write(2)` per line.
struct LineBuffer {
    private let storage: UnsafeMutablePointer<UInt8>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int = 16384) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    func deallocate() { storage.deallocate() }

    mutating func reset() { count = 0 }

    mutating func append(_ byte: UInt8) {
        guard count < capacity else { return }
        storage[count] = byte
        count += 1
    }

    /// Appends an ASCII/UTF-8 string (static strings and short names: no allocation).
    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { for b in $0 { append(b) } }
    }

    /// A JSON string value, escaped.
    mutating func appendQuoted(_ string: String) {
        append(UInt8(ascii: "\""))
        var s = string
        s.withUTF8 { bytes in
            for b in bytes {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    append(UInt8(ascii: "\\")); append(b)
                case 0..<0x20:
                    append(UInt8(ascii: " "))
                default: append(b)
                }
            }
        }
        append(UInt8(ascii: "\""))
    }

    mutating func append(_ value: Int) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude > 0
            for i in stride(from: n - 1, through: 0, by: -1) { append(d[i]) }
        }
    }

    /// A number with `decimals` digits after the point (rounded half away from zero); NaN and
    /// infinities as null. Formatted by hand: `String(format:)` and C varargs allocate.
    mutating func append(_ value: Double, decimals: Int = 4) {
        guard value.isFinite else { append("null"); return }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9.0e15 else { append(Int(value.rounded())); return }
        let units = Int(scaled)
        if value < 0 && units != 0 { append(UInt8(ascii: "-")) }
        let divisor = Int(scale)
        append(units / divisor)
        guard decimals > 0 else { return }
        append(UInt8(ascii: "."))
        var fraction = units % divisor
        var place = divisor / 10
        while place > 0 {
            append(UInt8(ascii: "0") + UInt8(fraction / place))
            fraction %= place
            place /= 10
        }
    }

    /// Writes the line (with a newline) to `descriptor`.
    mutating func flush(to descriptor: Int32) {
        append(UInt8(ascii: "\n"))
        var done = 0
        while done < count {
            let w = Glibc.write(descriptor, storage + done, count - done)
            if w < 0 { if errno == EINTR { continue } else { break } }
            done += w
        }
        count = 0
    }
}
