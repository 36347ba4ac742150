import Foundation
import Testing
@testable import VentriqIO

/// Small file helpers shared by the reader tests.
enum Files {
    static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url)
    }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Data(bytes).write(to: url)
    }

    /// A file of little-endian float32 values (what the Python reference dumps).
    static func float32LE(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        precondition(data.count % 4 == 0)
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// Little-endian int16 bytes of `values`.
    static func int16LE(_ values: [Int16]) -> [UInt8] {
        values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
    }
}

/// The first index where `a` and `b` differ bit for bit (NaN matches any NaN), or nil; a
/// length difference counts as a mismatch at the shorter length.
func firstMismatch(_ a: [Float], _ b: [Float]) -> Int? {
    for i in 0..<min(a.count, b.count) where !(a[i].bitPattern == b[i].bitPattern || (a[i].isNaN && b[i].isNaN)) {
        return i
    }
    return a.count == b.count ? nil : min(a.count, b.count)
}

/// Runs `body`, which must throw a `RecordingError`, and returns it (nil, with a recorded issue,
/// when it does not throw or throws something else).
func recordingError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> RecordingError? {
    do {
        try body()
        Issue.record("expected a RecordingError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as RecordingError {
        return error
    } catch {
        Issue.record("expected a RecordingError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
