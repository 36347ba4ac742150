import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A memory-mapped, validated safetensors file.
///
/// `init(contentsOf:)` maps the whole file read-only (`PROT_READ`, `MAP_PRIVATE`) and validates
/// the header and the data layout up front (see docs/FORMAT.md and `ModelFileError`), so every
/// accessor afterwards reads inside the mapping. The mapping lives as long as the object and is
/// unmapped in `deinit`. Tensor data is read in place: nothing is copied until an accessor
/// converts it. The object is immutable and safe to share between threads.
///
/// The file must not be truncated while it is mapped (reading a page beyond the new end raises
/// SIGBUS); Ventriq writes model files atomically (new file, then rename), which never does that.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest header accepted, as in the reference implementation.
    public static let maximumHeaderByteCount = 100_000_000

    public let url: URL
    /// Bytes in the file.
    public let fileSize: Int
    /// Length of the JSON header (including any space padding); tensor data starts at byte
    /// `8 + headerByteCount`.
    public let headerByteCount: Int
    /// The header's `__metadata__` (empty when absent).
    public let metadata: [String: String]
    /// Every tensor, in file-offset order.
    public let tensors: [TensorInfo]

    private let base: UnsafeRawPointer
    private let indexByName: [String: Int]

    /// Opens, maps and validates `url`; throws `ModelFileError` naming the first problem.
    public init(contentsOf url: URL) throws {
        let path = url.path
        // O_NONBLOCK: opening a FIFO must fail the regular-file check, not wait for a writer.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw ModelFileError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ModelFileError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ModelFileError.notARegularFile(file: path) }
        let size = Int(status.st_size)
        // Checked before mapping: mmap refuses a zero length.
        guard size >= 8 else { throw ModelFileError.fileTooShort(file: path, size: size) }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0),
              mapping != MAP_FAILED
        else {
            throw ModelFileError.cannotOpen(file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        let header: SafeTensorsHeader
        do {
            header = try SafeTensorsHeader.parse(UnsafeRawBufferPointer(start: mapping, count: size), file: path)
        } catch {
            munmap(mapping, size)
            throw error
        }
        var indexByName: [String: Int] = [:]
        for (index, tensor) in header.tensors.enumerated() { indexByName[tensor.name] = index }

        self.url = url
        self.fileSize = size
        self.headerByteCount = header.headerByteCount
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.base = UnsafeRawPointer(mapping)
        self.indexByName = indexByName
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), fileSize)
    }

    /// Absolute byte offset of the data section.
    public var dataOffset: Int { 8 + headerByteCount }

    /// Whether the file has a tensor named `name`.
    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    /// The entry of tensor `name`; throws `.missingTensor(name, file)`.
    public func info(_ name: String) throws -> TensorInfo {
        guard let index = indexByName[name] else { throw ModelFileError.missingTensor(name, url.path) }
        return tensors[index]
    }

    /// The tensor's raw little-endian bytes, without copying. The pointer is valid only inside
    /// `body`, and it is not aligned to the element size in general (safetensors guarantees no
    /// alignment): read elements with `loadUnaligned` or copy them.
    public func withUnsafeBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let tensor = try info(name)
        return try body(bytes(of: tensor))
    }

    /// The tensor's elements as `Float`: F32 as stored, F16 and BF16 converted exactly, F64
    /// rounded to nearest (ties to even). Other dtypes throw `.dtypeMismatch`.
    public func floats(_ name: String) throws -> [Float] {
        let tensor = try info(name)
        try requireFloatingPoint(tensor)
        return [Float](unsafeUninitializedCapacity: tensor.elementCount) { buffer, initialized in
            convertFloats(tensor, into: buffer)
            initialized = tensor.elementCount
        }
    }

    /// `floats(_:)` after checking that the tensor's shape is exactly `expectedShape`
    /// (`.shapeMismatch` names the tensor, the expected and the actual shape).
    public func floats(_ name: String, expectedShape: [Int]) throws -> [Float] {
        let tensor = try info(name)
        try requireShape(tensor, expectedShape)
        return try floats(name)
    }

    /// Converts the tensor's elements into `destination` as `floats(_:)` does, without
    /// allocating; `destination.count` must equal the element count.
    public func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let tensor = try info(name)
        try requireFloatingPoint(tensor)
        guard destination.count == tensor.elementCount else {
            throw ModelFileError.destinationSizeMismatch(
                file: url.path, tensor: name, expected: tensor.elementCount, actual: destination.count)
        }
        convertFloats(tensor, into: destination)
    }

    /// The tensor's elements as `Double`: F64 as stored, F32, F16 and BF16 widened exactly.
    public func doubles(_ name: String) throws -> [Double] {
        let tensor = try info(name)
        try requireFloatingPoint(tensor)
        if tensor.dtype == .f64 { return load(tensor, as: Double.self) }
        return try floats(name).map(Double.init)
    }

    /// I8 elements.
    public func int8s(_ name: String) throws -> [Int8] { try integers(name, .i8, as: Int8.self) }
    /// U8 elements.
    public func uint8s(_ name: String) throws -> [UInt8] { try integers(name, .u8, as: UInt8.self) }
    /// I16 elements.
    public func int16s(_ name: String) throws -> [Int16] { try integers(name, .i16, as: Int16.self) }
    /// I32 elements.
    public func int32s(_ name: String) throws -> [Int32] { try integers(name, .i32, as: Int32.self) }
    /// I64 elements.
    public func int64s(_ name: String) throws -> [Int64] { try integers(name, .i64, as: Int64.self) }
    /// BOOL elements (one byte each; any non-zero byte reads as true).
    public func bools(_ name: String) throws -> [Bool] {
        try integers(name, .bool, as: UInt8.self).map { $0 != 0 }
    }

    /// Lowercase hexadecimal SHA-256 of the whole file, hashed over the mapping in 1 MiB chunks.
    public func sha256() -> String {
        var hasher = SHA256()
        var offset = 0
        let chunk = 1 << 20
        while offset < fileSize {
            let count = min(chunk, fileSize - offset)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: base + offset, count: count))
            offset += count
        }
        return hexString(hasher.finalize())
    }

    // MARK: Internals

    private func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + tensor.byteRange.lowerBound, count: tensor.byteRange.count)
    }

    private func requireFloatingPoint(_ tensor: TensorInfo) throws {
        guard tensor.dtype.isFloatingPoint else {
            throw ModelFileError.dtypeMismatch(
                file: url.path, tensor: tensor.name, expected: [.f32, .f16, .bf16, .f64], actual: tensor.dtype)
        }
    }

    private func requireShape(_ tensor: TensorInfo, _ expected: [Int]) throws {
        guard tensor.shape == expected else {
            throw ModelFileError.shapeMismatch(file: url.path, tensor: tensor.name, expected: expected, actual: tensor.shape)
        }
    }

    private func integers<T: FixedWidthInteger>(_ name: String, _ dtype: DType, as type: T.Type) throws -> [T] {
        let tensor = try info(name)
        guard tensor.dtype == dtype else {
            throw ModelFileError.dtypeMismatch(file: url.path, tensor: name, expected: [dtype], actual: tensor.dtype)
        }
        return load(tensor, as: type)
    }

    /// Copies the elements (little-endian, possibly unaligned) into a new array.
    private func load<T>(_ tensor: TensorInfo, as type: T.Type) -> [T] {
        precondition(MemoryLayout<T>.stride == tensor.dtype.byteSize)
        let source = bytes(of: tensor)
        return [T](unsafeUninitializedCapacity: tensor.elementCount) { buffer, initialized in
            if let destination = buffer.baseAddress, let from = source.baseAddress, source.count > 0 {
                UnsafeMutableRawPointer(destination).copyMemory(from: from, byteCount: source.count)
            }
            initialized = tensor.elementCount
        }
    }

    private func convertFloats(_ tensor: TensorInfo, into destination: UnsafeMutableBufferPointer<Float>) {
        let source = bytes(of: tensor)
        let count = tensor.elementCount
        switch tensor.dtype {
        case .f32:
            if let to = destination.baseAddress, let from = source.baseAddress, count > 0 {
                UnsafeMutableRawPointer(to).copyMemory(from: from, byteCount: count * 4)
            }
        case .f16:
            for index in 0 ..< count {
                let bits = source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
                destination[index] = HalfPrecision.float(fromF16Bits: bits)
            }
        case .bf16:
            for index in 0 ..< count {
                let bits = source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
                destination[index] = HalfPrecision.float(fromBF16Bits: bits)
            }
        case .f64:
            for index in 0 ..< count {
                destination[index] = Float(source.loadUnaligned(fromByteOffset: 8 * index, as: Double.self))
            }
        default:
            preconditionFailure("convertFloats called for \(tensor.dtype)")
        }
    }
}

/// Lowercase hexadecimal of a byte sequence.
func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
