/// Why a model file could not be read, checked or written.
///
/// Every case names the file (its path as given), the tensor or header field concerned, the byte
/// offset where the problem sits (absolute, from the start of the file: the 8-byte header length
/// is bytes 0..<8, the JSON header starts at byte 8, tensor data at `8 + headerByteCount`), and
/// what was expected; `description` says all of it in one sentence. Offsets of header fields are
/// those of the field's key in the JSON text.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    // MARK: Opening

    /// `open`, `fstat` or `mmap` failed; `reason` is the system's message.
    case cannotOpen(file: String, reason: String)
    /// The path is a directory, device or other non-regular file.
    case notARegularFile(file: String)

    // MARK: Framing (bytes 0..<8 and the header)

    /// The file has fewer than the 8 bytes of the header length.
    case fileTooShort(file: String, size: Int)
    /// The header length (u64 little-endian at byte 0) is 0.
    case headerLengthZero(file: String)
    /// The header length exceeds `SafeTensorsFile.maximumHeaderByteCount` (100 MB).
    case headerTooLarge(file: String, length: UInt64)
    /// The header length exceeds the bytes that follow it (`available` = file size - 8).
    case headerBeyondFile(file: String, length: UInt64, available: Int)
    /// The header bytes are not UTF-8; `offset` is the first bad byte.
    case headerNotUTF8(file: String, offset: Int)
    /// The header does not start with `{` (byte 8), so it cannot be a JSON object; `found`
    /// describes what is there.
    case headerNotObject(file: String, offset: Int, found: String)
    /// The header starts with `{` but is not valid JSON; `reason` is the parser's message.
    case headerNotJSON(file: String, reason: String)
    /// The same top-level key appears twice (JSON parsers would silently keep one of them).
    /// Names are compared as Swift strings, so canonically equivalent spellings collide too.
    case duplicateKey(file: String, key: String, offset: Int, firstOffset: Int)

    // MARK: Header entries

    /// `__metadata__` is not an object (`key` nil) or its value for `key` is not a string.
    case invalidMetadata(file: String, key: String?, offset: Int, found: String)
    /// A tensor is named with the empty string.
    case emptyTensorName(file: String, offset: Int)
    /// A tensor entry is not an object, lacks or adds a field, or a field has the wrong JSON type.
    /// `field` is "dtype", "shape", "data_offsets", another key found in the entry, or "" for
    /// the entry itself.
    case invalidTensorEntry(file: String, tensor: String, field: String, offset: Int, expected: String, found: String)
    /// `dtype` is a string but not one of `DType`'s.
    case unknownDType(file: String, tensor: String, dtype: String, offset: Int)
    /// A dimension of `shape` is negative.
    case negativeDimension(file: String, tensor: String, shape: [Int], offset: Int)
    /// The element count or byte count of `shape` overflows a 64-bit integer.
    case shapeOverflow(file: String, tensor: String, shape: [Int], offset: Int)

    // MARK: Data section

    /// `data_offsets` [begin, end] has begin > end, or end beyond the data section, which spans
    /// bytes `dataStart ..< dataStart + dataSize` of the file.
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataStart: Int, dataSize: Int)
    /// `end - begin` differs from element count x element size. `offset` is the absolute start
    /// of the tensor's data.
    case byteLengthMismatch(file: String, tensor: String, dtype: DType, shape: [Int], offset: Int, expected: Int, actual: Int)
    /// `tensor` starts at absolute byte `offset`, before `other` (which starts earlier or at the
    /// same byte) ends at `otherEnd`.
    case overlappingTensors(file: String, tensor: String, other: String, offset: Int, otherEnd: Int)
    /// Bytes `offset ..< offset + length` of the data section belong to no tensor. safetensors
    /// requires the data section to be covered entirely (no holes, nothing after the last
    /// tensor). `after` is the tensor before the gap (nil at the start of the data section),
    /// `before` the tensor after it (nil at the end of the file).
    case holeInData(file: String, offset: Int, length: Int, after: String?, before: String?)

    // MARK: Access

    /// No tensor of that name in the file.
    case missingTensor(_ name: String, _ file: String)
    /// The tensor's dtype is not one the accessor reads.
    case dtypeMismatch(file: String, tensor: String, expected: [DType], actual: DType)
    /// The tensor's shape is not the one the caller expects.
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    /// The caller's buffer does not hold exactly the tensor's elements.
    case destinationSizeMismatch(file: String, tensor: String, expected: Int, actual: Int)

    // MARK: Writing

    /// A tensor handed to `SafeTensorsWriter` is unusable (empty, reserved or duplicate name,
    /// negative or overflowing shape, byte count not matching shape and dtype). No file yet.
    case invalidWriterInput(tensor: String, expected: String, found: String)
    /// Creating, writing, syncing or renaming the output failed; `reason` is the system's message.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let reason):
            return "\(file): cannot open the model file: \(reason)"
        case .notARegularFile(let file):
            return "\(file): not a regular file; expected a safetensors file"
        case .fileTooShort(let file, let size):
            return "\(file): file is \(size) bytes; expected at least 8 (the u64 little-endian header length at byte 0)"
        case .headerLengthZero(let file):
            return "\(file): header length at byte 0 is 0; expected the byte count of a JSON object (at least 2)"
        case .headerTooLarge(let file, let length):
            return "\(file): header length at byte 0 is \(length); expected at most \(SafeTensorsFile.maximumHeaderByteCount) bytes"
        case .headerBeyondFile(let file, let length, let available):
            return "\(file): header length at byte 0 is \(length) but only \(available) bytes follow it; expected at most \(available) (file truncated or not safetensors)"
        case .headerNotUTF8(let file, let offset):
            return "\(file): header is not UTF-8 at byte \(offset); expected UTF-8 JSON"
        case .headerNotObject(let file, let offset, let found):
            return "\(file): header at byte \(offset) starts with \(found); expected a JSON object starting with '{'"
        case .headerNotJSON(let file, let reason):
            return "\(file): header at byte 8 is not valid JSON (\(reason)); expected a JSON object"
        case .duplicateKey(let file, let key, let offset, let firstOffset):
            return "\(file): header key \"\(key)\" at byte \(offset) repeats the key at byte \(firstOffset); expected unique keys"
        case .invalidMetadata(let file, let key, let offset, let found):
            if let key {
                return "\(file): __metadata__ value of \"\(key)\" at byte \(offset) is \(found); expected a string"
            }
            return "\(file): __metadata__ at byte \(offset) is \(found); expected an object of string values"
        case .emptyTensorName(let file, let offset):
            return "\(file): tensor at byte \(offset) has an empty name; expected a non-empty name"
        case .invalidTensorEntry(let file, let tensor, let field, let offset, let expected, let found):
            let what = field.isEmpty ? "entry" : "field \"\(field)\""
            return "\(file): tensor \"\(tensor)\" (header byte \(offset)): \(what) is \(found); expected \(expected)"
        case .unknownDType(let file, let tensor, let dtype, let offset):
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(file): tensor \"\(tensor)\" (header byte \(offset)): dtype \"\(dtype)\" is not supported; expected one of \(known)"
        case .negativeDimension(let file, let tensor, let shape, let offset):
            return "\(file): tensor \"\(tensor)\" (header byte \(offset)): shape \(shape) has a negative dimension; expected non-negative integers"
        case .shapeOverflow(let file, let tensor, let shape, let offset):
            return "\(file): tensor \"\(tensor)\" (header byte \(offset)): shape \(shape) overflows 64-bit element or byte counts; expected a size that fits the file"
        case .offsetsOutOfBounds(let file, let tensor, let begin, let end, let dataStart, let dataSize):
            let problem = begin > end
                ? "begin is after end"
                : "end is past the data section (bytes \(dataStart)..<\(dataStart + dataSize), \(dataSize) bytes)"
            return "\(file): tensor \"\(tensor)\": data_offsets [\(begin), \(end)] (absolute bytes \(dataStart + begin)..<\(dataStart + end)): \(problem); expected 0 <= begin <= end <= \(dataSize)"
        case .byteLengthMismatch(let file, let tensor, let dtype, let shape, let offset, let expected, let actual):
            return "\(file): tensor \"\(tensor)\" at byte \(offset) has \(actual) data bytes; expected \(expected) (\(dtype) x shape \(shape))"
        case .overlappingTensors(let file, let tensor, let other, let offset, let otherEnd):
            return "\(file): tensor \"\(tensor)\" starts at byte \(offset), inside tensor \"\(other)\" which ends at byte \(otherEnd); expected non-overlapping tensors"
        case .holeInData(let file, let offset, let length, let after, let before):
            let start = after.map { "after tensor \"\($0)\"" } ?? "at the start of the data section"
            let stop = before.map { "before tensor \"\($0)\"" } ?? "up to the end of the file"
            return "\(file): bytes \(offset)..<\(offset + length) (\(length) bytes, \(start), \(stop)) belong to no tensor; expected the data section to be covered without holes"
        case .missingTensor(let name, let file):
            return "\(file): no tensor named \"\(name)\"; expected the model to contain it"
        case .dtypeMismatch(let file, let tensor, let expected, let actual):
            let list = expected.map(\.rawValue).joined(separator: " or ")
            return "\(file): tensor \"\(tensor)\" has dtype \(actual); expected \(list)"
        case .shapeMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor \"\(tensor)\" has shape \(actual); expected \(expected)"
        case .destinationSizeMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor \"\(tensor)\" has \(expected) elements; the destination holds \(actual)"
        case .invalidWriterInput(let tensor, let expected, let found):
            return "tensor \"\(tensor)\" handed to SafeTensorsWriter: \(found); expected \(expected)"
        case .writeFailed(let file, let reason):
            return "\(file): cannot write the model file: \(reason)"
        }
    }
}
