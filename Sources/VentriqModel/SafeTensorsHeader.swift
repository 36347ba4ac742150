import Foundation

/// The validated contents of a safetensors header: everything `SafeTensorsFile` exposes except
/// the mapping itself. Parsing is a pure function of the file's bytes, so it is the same whether
/// the bytes come from a mapping or from memory.
struct SafeTensorsHeader {
    var headerByteCount: Int
    var metadata: [String: String]
    /// In file-offset order.
    var tensors: [TensorInfo]

    static let metadataKey = "__metadata__"
    static let entryFields: Set<String> = ["dtype", "shape", "data_offsets"]

    /// Validates `bytes` (the whole file) as safetensors; `file` names it in errors.
    ///
    /// Checks, in order: at least 8 bytes; header length N (u64 LE) with 0 < N <= 100 MB and
    /// N <= size - 8; UTF-8; first header byte `{`; valid JSON; no duplicate top-level key;
    /// `__metadata__` an object of strings; per tensor, in header order: non-empty name, an
    /// object with exactly dtype/shape/data_offsets, known dtype, shape of non-negative
    /// integers whose element and byte counts fit in Int, data_offsets two non-negative
    /// integers with begin <= end <= data size, end - begin == bytes of the shape; then, in
    /// offset order, no overlap and no uncovered byte anywhere in the data section.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> SafeTensorsHeader {
        let size = bytes.count
        guard size >= 8 else { throw ModelFileError.fileTooShort(file: file, size: size) }
        var length: UInt64 = 0
        for index in (0..<8).reversed() { length = length << 8 | UInt64(bytes[index]) }
        guard length > 0 else { throw ModelFileError.headerLengthZero(file: file) }
        guard length <= UInt64(SafeTensorsFile.maximumHeaderByteCount) else {
            throw ModelFileError.headerTooLarge(file: file, length: length)
        }
        guard length <= UInt64(size - 8) else {
            throw ModelFileError.headerBeyondFile(file: file, length: length, available: size - 8)
        }
        let headerCount = Int(length)
        let header = UnsafeRawBufferPointer(rebasing: bytes[8 ..< 8 + headerCount])
        if let bad = firstInvalidUTF8Index(header) {
            throw ModelFileError.headerNotUTF8(file: file, offset: 8 + bad)
        }
        guard header[0] == UInt8(ascii: "{") else {
            throw ModelFileError.headerNotObject(file: file, offset: 8, found: describeByte(header[0]))
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(header), options: [])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ModelFileError.headerNotJSON(file: file, reason: reason)
        }
        guard let object = parsed as? [String: Any] else {
            throw ModelFileError.headerNotObject(file: file, offset: 8, found: describe(parsed))
        }

        // Top-level keys in header order with their offsets; duplicates are refused because a
        // JSON parser keeps only one of them and the other would silently disappear.
        let keys = topLevelKeys(header)
        var firstOffset: [String: Int] = [:]
        for (key, offset) in keys {
            if let first = firstOffset[key] {
                throw ModelFileError.duplicateKey(file: file, key: key, offset: 8 + offset, firstOffset: 8 + first)
            }
            firstOffset[key] = offset
        }
        // The scanner and the parser must agree on the key set; they can only disagree through
        // a scanner bug, which must not let an entry slip past validation.
        guard keys.count == object.count, keys.allSatisfy({ object[$0.key] != nil }) else {
            throw ModelFileError.headerNotJSON(
                file: file, reason: "top-level keys could not be located in the header text")
        }

        let dataStart = 8 + headerCount
        let dataSize = size - dataStart
        var metadata: [String: String] = [:]
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(keys.count)
        for (key, keyOffset) in keys {
            let offset = 8 + keyOffset
            let value = object[key]!
            if key == metadataKey {
                metadata = try parseMetadata(value, offset: offset, file: file)
            } else {
                tensors.append(try parseEntry(
                    name: key, value: value, offset: offset,
                    dataStart: dataStart, dataSize: dataSize, file: file))
            }
        }

        tensors.sort { left, right in
            if left.byteRange.lowerBound != right.byteRange.lowerBound {
                return left.byteRange.lowerBound < right.byteRange.lowerBound
            }
            if left.byteRange.upperBound != right.byteRange.upperBound {
                return left.byteRange.upperBound < right.byteRange.upperBound
            }
            return Array(left.name.utf8).lexicographicallyPrecedes(right.name.utf8)
        }
        try checkCoverage(tensors, dataStart: dataStart, dataEnd: size, file: file)
        return SafeTensorsHeader(headerByteCount: headerCount, metadata: metadata, tensors: tensors)
    }

    private static func parseMetadata(_ value: Any, offset: Int, file: String) throws -> [String: String] {
        guard let object = value as? [String: Any] else {
            throw ModelFileError.invalidMetadata(file: file, key: nil, offset: offset, found: describe(value))
        }
        var metadata: [String: String] = [:]
        // Sorted so that the first bad value reported does not depend on hashing.
        for key in object.keys.sorted() {
            guard let string = object[key] as? String else {
                throw ModelFileError.invalidMetadata(file: file, key: key, offset: offset, found: describe(object[key]!))
            }
            metadata[key] = string
        }
        return metadata
    }

    private static func parseEntry(
        name: String, value: Any, offset: Int, dataStart: Int, dataSize: Int, file: String
    ) throws -> TensorInfo {
        guard !name.isEmpty else { throw ModelFileError.emptyTensorName(file: file, offset: offset) }
        func invalid(_ field: String, _ expected: String, _ found: String) -> ModelFileError {
            .invalidTensorEntry(file: file, tensor: name, field: field, offset: offset, expected: expected, found: found)
        }
        guard let entry = value as? [String: Any] else {
            throw invalid("", "an object with dtype, shape and data_offsets", describe(value))
        }
        for field in ["dtype", "shape", "data_offsets"] where entry[field] == nil {
            throw invalid(field, "present", "missing")
        }
        if let extra = entry.keys.filter({ !entryFields.contains($0) }).sorted().first {
            throw invalid(extra, "only dtype, shape and data_offsets in a tensor entry", "an unexpected field")
        }

        guard let dtypeName = entry["dtype"] as? String else {
            throw invalid("dtype", "a string", describe(entry["dtype"]!))
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw ModelFileError.unknownDType(file: file, tensor: name, dtype: dtypeName, offset: offset)
        }

        guard let shapeArray = entry["shape"] as? [Any] else {
            throw invalid("shape", "an array of non-negative integers", describe(entry["shape"]!))
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeArray.count)
        for element in shapeArray {
            guard let dimension = integer(element) else {
                throw invalid("shape", "an array of non-negative integers", "an array containing \(describe(element))")
            }
            shape.append(dimension)
        }
        if shape.contains(where: { $0 < 0 }) {
            throw ModelFileError.negativeDimension(file: file, tensor: name, shape: shape, offset: offset)
        }
        guard let (elementCount, byteCount) = checkedByteCount(shape: shape, dtype: dtype) else {
            throw ModelFileError.shapeOverflow(file: file, tensor: name, shape: shape, offset: offset)
        }

        let offsetsExpected = "two non-negative integers [begin, end]"
        guard let offsets = entry["data_offsets"] as? [Any] else {
            throw invalid("data_offsets", offsetsExpected, describe(entry["data_offsets"]!))
        }
        guard offsets.count == 2 else {
            throw invalid("data_offsets", offsetsExpected, "an array of \(offsets.count) elements")
        }
        guard let begin = integer(offsets[0]), let end = integer(offsets[1]), begin >= 0, end >= 0 else {
            throw invalid("data_offsets", offsetsExpected, "[\(describe(offsets[0])), \(describe(offsets[1]))]")
        }
        guard begin <= end, end <= dataSize else {
            throw ModelFileError.offsetsOutOfBounds(
                file: file, tensor: name, begin: begin, end: end, dataStart: dataStart, dataSize: dataSize)
        }
        guard end - begin == byteCount else {
            throw ModelFileError.byteLengthMismatch(
                file: file, tensor: name, dtype: dtype, shape: shape,
                offset: dataStart + begin, expected: byteCount, actual: end - begin)
        }
        return TensorInfo(
            name: name, dtype: dtype, shape: shape, elementCount: elementCount,
            byteRange: (dataStart + begin) ..< (dataStart + end))
    }

    /// Walks the tensors in offset order: each must start exactly where the data covered so far
    /// ends (earlier: overlap; later: hole), and the last must end at the end of the file.
    private static func checkCoverage(_ tensors: [TensorInfo], dataStart: Int, dataEnd: Int, file: String) throws {
        var covered = dataStart
        var owner: String? = nil
        for tensor in tensors {
            let range = tensor.byteRange
            if range.lowerBound < covered {
                throw ModelFileError.overlappingTensors(
                    file: file, tensor: tensor.name, other: owner ?? "", offset: range.lowerBound, otherEnd: covered)
            }
            if range.lowerBound > covered {
                throw ModelFileError.holeInData(
                    file: file, offset: covered, length: range.lowerBound - covered, after: owner, before: tensor.name)
            }
            if range.upperBound > covered || owner == nil {
                covered = range.upperBound
                owner = tensor.name
            }
        }
        if covered < dataEnd {
            throw ModelFileError.holeInData(file: file, offset: covered, length: dataEnd - covered, after: owner, before: nil)
        }
    }

    // MARK: JSON helpers

    /// The integer value of a JSON number written as an integer that fits in `Int`; nil for
    /// booleans, fractions, exponents, `2.0`, and integers beyond Int64.
    static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        // Foundation's JSON parser stores integers as "q" (Int64) or "Q" (UInt64 beyond Int64),
        // booleans as "c" and every other number as "d" or NSDecimalNumber.
        guard !(number is NSDecimalNumber) else { return nil }
        switch String(cString: number.objCType) {
        case "s", "i", "l", "q": return number.intValue
        case "S", "I", "L", "Q":
            let unsigned = number.uint64Value
            return unsigned <= UInt64(Int.max) ? Int(unsigned) : nil
        default: return nil
        }
    }

    /// A short description of a JSON value for error messages.
    static func describe(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let string as String: return "a string (\"\(string.prefix(40))\")"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let number as NSNumber:
            // The JSON parser stores true and false as "c"; it never makes a "c" integer.
            if String(cString: number.objCType) == "c" { return "a boolean (\(number.boolValue))" }
            return "a number (\(number))"
        default: return "\(type(of: value))"
        }
    }

    static func describeByte(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }

    /// Top-level keys of a JSON object text (already known to be valid JSON starting with `{`),
    /// in order, with the byte offset of each key's opening quote.
    static func topLevelKeys(_ text: UnsafeRawBufferPointer) -> [(key: String, offset: Int)] {
        var keys: [(key: String, offset: Int)] = []
        var index = 1
        var depth = 1
        var expectKey = true
        let count = text.count
        while index < count && depth > 0 {
            switch text[index] {
            case UInt8(ascii: "\""):
                let start = index
                var escaped = false
                index += 1
                while index < count && text[index] != UInt8(ascii: "\"") {
                    if text[index] == UInt8(ascii: "\\") {
                        escaped = true
                        index += 2
                    } else {
                        index += 1
                    }
                }
                let end = min(index, count)  // the closing quote
                index += 1
                if depth == 1 && expectKey {
                    expectKey = false
                    let raw = UnsafeRawBufferPointer(rebasing: text[start ..< min(end + 1, count)])
                    keys.append((decodeKey(raw, escaped: escaped), start))
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true }
                index += 1
            default:
                index += 1
            }
        }
        return keys
    }

    /// A JSON string token (quotes included) as a Swift string.
    private static func decodeKey(_ token: UnsafeRawBufferPointer, escaped: Bool) -> String {
        if !escaped {
            return String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
        }
        let decoded = try? JSONSerialization.jsonObject(with: Data(token), options: [.fragmentsAllowed])
        return decoded as? String ?? String(decoding: token, as: UTF8.self)
    }

    /// Index of the first byte that does not belong to a well-formed UTF-8 sequence (no
    /// overlong forms, no surrogates, nothing above U+10FFFF), or nil when all are well formed.
    static func firstInvalidUTF8Index(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return index
            }
            guard index + length <= count else { return index }
            let second = bytes[index + 1]
            guard second >= low && second <= high else { return index }
            for continuation in 2 ..< length where bytes[index + continuation] & 0xC0 != 0x80 {
                return index
            }
            index += length
        }
        return nil
    }
}
