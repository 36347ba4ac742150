import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects tensors and string metadata and writes them as one safetensors file, atomically.
///
/// Layout, as the reference writer (`safetensors.numpy.save_file`, `safetensors.torch.save_file`)
/// lays it out, so that the same tensors and (single-key or empty) metadata give the same bytes:
/// - header: compact JSON, `__metadata__` first (keys sorted by UTF-8 bytes; omitted when
///   empty), then one entry per tensor in data order; padded with spaces (0x20) to a multiple
///   of 8 bytes, so the data section starts 8-byte aligned;
/// - data: tensors back to back, no holes (the format forbids them), ordered by element type
///   (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then by name (UTF-8 byte order). With
///   that order every tensor starts at a multiple of its own element size: 8-byte types are
///   8-byte aligned, 4-byte types 4-byte aligned, and so on.
///
/// `write(to:)` writes a temporary file beside the target, fsyncs it, renames it over the target
/// and fsyncs the directory: readers see the old file or the complete new one, never a part.
public struct SafeTensorsWriter: Sendable {
    /// The `__metadata__` map.
    public var metadata: [String: String]

    private struct Entry: Sendable {
        var name: String
        var dtype: DType
        var shape: [Int]
        var bytes: [UInt8]
    }

    private var entries: [Entry] = []
    private var names: Set<String> = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Number of tensors added so far.
    public var tensorCount: Int { entries.count }

    /// Adds a tensor from its raw little-endian bytes. Throws `.invalidWriterInput` for an empty,
    /// reserved (`__metadata__`) or repeated name, a negative or overflowing shape, or a byte
    /// count other than elements x element size.
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        guard !name.isEmpty else {
            throw ModelFileError.invalidWriterInput(tensor: name, expected: "a non-empty name", found: "an empty name")
        }
        guard name != SafeTensorsHeader.metadataKey else {
            throw ModelFileError.invalidWriterInput(
                tensor: name, expected: "a tensor name", found: "the reserved key __metadata__")
        }
        guard !names.contains(name) else {
            throw ModelFileError.invalidWriterInput(
                tensor: name, expected: "a name not used by another tensor", found: "a repeated name")
        }
        guard let (_, byteCount) = checkedByteCount(shape: shape, dtype: dtype) else {
            throw ModelFileError.invalidWriterInput(
                tensor: name, expected: "non-negative dimensions with a representable size", found: "shape \(shape)")
        }
        guard bytes.count == byteCount else {
            throw ModelFileError.invalidWriterInput(
                tensor: name, expected: "\(byteCount) bytes (\(dtype) x shape \(shape))", found: "\(bytes.count) bytes")
        }
        names.insert(name)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds an F32 tensor.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) throws {
        try add(name, dtype: .f32, shape: shape, bytes: littleEndianBytes(floats))
    }

    /// Adds an F64 tensor.
    public mutating func add(_ name: String, shape: [Int], doubles: [Double]) throws {
        try add(name, dtype: .f64, shape: shape, bytes: littleEndianBytes(doubles))
    }

    /// Adds an I8 tensor.
    public mutating func add(_ name: String, shape: [Int], int8s: [Int8]) throws {
        try add(name, dtype: .i8, shape: shape, bytes: littleEndianBytes(int8s))
    }

    /// Adds a U8 tensor.
    public mutating func add(_ name: String, shape: [Int], uint8s: [UInt8]) throws {
        try add(name, dtype: .u8, shape: shape, bytes: uint8s)
    }

    /// Adds an I32 tensor.
    public mutating func add(_ name: String, shape: [Int], int32s: [Int32]) throws {
        try add(name, dtype: .i32, shape: shape, bytes: littleEndianBytes(int32s))
    }

    /// Adds an I64 tensor.
    public mutating func add(_ name: String, shape: [Int], int64s: [Int64]) throws {
        try add(name, dtype: .i64, shape: shape, bytes: littleEndianBytes(int64s))
    }

    /// The complete file, in memory.
    public func serialized() throws -> [UInt8] {
        let (header, ordered) = try layout(file: "(in memory)")
        var out = header
        out.reserveCapacity(header.count + ordered.reduce(0) { $0 + $1.bytes.count })
        for entry in ordered { out.append(contentsOf: entry.bytes) }
        return out
    }

    /// Writes the file to `url` atomically (temporary file in the same directory, fsync,
    /// rename, fsync of the directory). On failure the target is untouched and the temporary
    /// file removed; throws `.writeFailed` naming the file and the failing step.
    public func write(to url: URL) throws {
        let path = url.path
        let (header, ordered) = try layout(file: path)
        do {
            try AtomicFile.write(to: url) { sink in
                try sink.write(header)
                for entry in ordered { try sink.write(entry.bytes) }
            }
        } catch let failure as AtomicFile.Failure {
            throw ModelFileError.writeFailed(file: path, reason: failure.reason)
        }
    }

    // MARK: Internals

    /// Length prefix + padded header, and the entries in data order.
    private func layout(file: String) throws -> (header: [UInt8], entries: [Entry]) {
        let ordered = entries.sorted { left, right in
            if left.dtype.writerRank != right.dtype.writerRank { return left.dtype.writerRank > right.dtype.writerRank }
            return Array(left.name.utf8).lexicographicallyPrecedes(right.name.utf8)
        }
        var json: [UInt8] = Array("{".utf8)
        var first = true
        func separator() {
            if !first { json.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            appendJSONString(SafeTensorsHeader.metadataKey, to: &json)
            json.append(contentsOf: Array(":{".utf8))
            let keys = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for entry in ordered {
            separator()
            appendJSONString(entry.name, to: &json)
            let shape = entry.shape.map(String.init).joined(separator: ",")
            let end = offset + entry.bytes.count
            json.append(contentsOf: Array(
                ":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}".utf8))
            offset = end
        }
        json.append(UInt8(ascii: "}"))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        guard json.count <= SafeTensorsFile.maximumHeaderByteCount else {
            throw ModelFileError.headerTooLarge(file: file, length: UInt64(json.count))
        }
        var header: [UInt8] = []
        header.reserveCapacity(8 + json.count)
        var length = UInt64(json.count)
        for _ in 0 ..< 8 {
            header.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        header.append(contentsOf: json)
        return (header, ordered)
    }

}

/// JSON string literal as serde_json writes it: `"` and `\` escaped, \b \f \n \r \t, other
/// control characters as \u00xx (lowercase hex), everything else as raw UTF-8.
func appendJSONString(_ string: String, to out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        case 0x00 ..< 0x20:
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}


/// The little-endian bytes of an array of fixed-size values (the host is little-endian).
func littleEndianBytes<T>(_ values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}
