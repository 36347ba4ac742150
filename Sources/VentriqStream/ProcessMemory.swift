import Glibc

/// Resident set size of this process, read from /proc/self/statm without allocating (0 when
/// unavailable).
public enum ProcessMemory {
    public static func residentBytes() -> Int {
        // A StaticString's bytes are NUL-terminated: no String-to-C conversion, no allocation.
        let path: StaticString = "/proc/self/statm"
        let fd = UnsafeRawPointer(path.utf8Start).withMemoryRebound(to: CChar.self, capacity: path.utf8CodeUnitCount + 1) {
            open($0, O_RDONLY | O_CLOEXEC)
        }
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buffer) { raw -> Int in
            let n = read(fd, raw.baseAddress, raw.count - 1)
            guard n > 0 else { return 0 }
            // "size resident shared ...": the second field, in pages.
            var field = 0, value = 0
            for i in 0..<n {
                let c = raw[i]
                if c == UInt8(ascii: " ") { field += 1; if field > 1 { break }; continue }
                if field == 1, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { value = value * 10 + Int(c - UInt8(ascii: "0")) }
            }
            return value * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
    }
}
