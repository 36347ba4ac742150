#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Resident memory of this process, read from /proc without Foundation and without allocating
/// (0 when unavailable: not Linux, or /proc not mounted). Streams report it per run; embedding
/// programs compare the peak with the model's budget (model file + arena + headroom).
public enum ProcessMemory {
    /// Resident set size now: the second field of /proc/self/statm, in pages.
    public static func residentBytes() -> Int {
        // "size resident shared ...": the second field.
        var pages = 0
        let found = withProcFile("/proc/self/statm", capacity: 128) { bytes -> Bool in
            var field = 0
            // Index loops: generic sequence code can allocate in debug builds (streams call this).
            for i in 0..<bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: " ") { field += 1; if field > 1 { break }; continue }
                if field == 1, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { pages = pages * 10 + Int(c - UInt8(ascii: "0")) }
            }
            return field >= 1
        }
        return found ? pages * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// Peak resident set size of this process image: `VmHWM` of /proc/self/status. It is reset at
    /// exec, unlike getrusage's ru_maxrss, which survives exec and can report a parent's peak.
    public static func peakResidentBytes() -> Int { statusKibibytes("VmHWM:") * 1024 }

    /// A "Key:   N kB" line of /proc/self/status, in KiB (0 when absent).
    static func statusKibibytes(_ key: StaticString) -> Int {
        var kib = 0
        _ = withProcFile("/proc/self/status", capacity: 4096) { bytes -> Bool in
            let keyBytes = UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                var matches = lineEnd - lineStart > keyBytes.count
                for k in 0..<keyBytes.count where matches && bytes[lineStart + k] != keyBytes[k] { matches = false }
                if matches {
                    for i in (lineStart + keyBytes.count)..<lineEnd {
                        let c = bytes[i]
                        if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { kib = kib * 10 + Int(c - UInt8(ascii: "0")) }
                        else if kib > 0 { break }
                    }
                    return true
                }
                lineStart = lineEnd + 1
            }
            return false
        }
        return kib
    }

    /// Reads the first `capacity` bytes of a /proc file into a temporary buffer (on the stack)
    /// and hands them to `body`; false when it cannot be read.
    private static func withProcFile(_ path: StaticString, capacity: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        // A StaticString's bytes are NUL-terminated: no String-to-C conversion, no allocation.
        let fd = UnsafeRawPointer(path.utf8Start).withMemoryRebound(to: CChar.self, capacity: path.utf8CodeUnitCount + 1) {
            open($0, O_RDONLY | O_CLOEXEC)
        }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer -> Bool in
            var used = 0
            while used < buffer.count {
                let n = read(fd, buffer.baseAddress! + used, buffer.count - used)
                if n <= 0 { break }
                used += n
            }
            return used > 0 && body(UnsafeBufferPointer(rebasing: buffer[..<used]))
        }
    }
}
