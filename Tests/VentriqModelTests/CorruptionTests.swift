import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

/// One hand-built corrupt file per check: each must be rejected with the right case, and the
/// message must name the file, the tensor or field, the offset and what was expected.
@Suite struct CorruptionTests {
    /// A well-formed two-tensor header for a 16 + 8 byte data section, to corrupt piece by piece.
    static let a = #""a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"#
    static let b = #""b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}"#
    static let data = bytesOf([1, 2, 3, 4]) + [5, 0, 0, 0, 6, 0, 0, 0]

    @Test func wellFormedBaselineOpens() throws {
        let url = try writeTemporaryFile(safetensorsBytes(header: "{\(Self.a),\(Self.b)}", data: Self.data))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(try file.floats("a", expectedShape: [2, 2]) == [1, 2, 3, 4])
        #expect(try file.int32s("b") == [5, 6])
        #expect(file.tensors.map(\.name) == ["a", "b"])
    }

    @Test func fileShorterThanEightBytes() throws {
        let (error, path) = try rejection([1, 0, 0, 0, 0])
        #expect(error == .fileTooShort(file: path, size: 5))
        #expect(error?.description == "\(path): file is 5 bytes; expected at least 8 (the u64 little-endian header length at byte 0)")
        let (empty, emptyPath) = try rejection([])
        #expect(empty == .fileTooShort(file: emptyPath, size: 0))
    }

    @Test func headerLengthZero() throws {
        let (error, path) = try rejection(lengthPrefix(0) + Array("{}".utf8))
        #expect(error == .headerLengthZero(file: path))
        #expect(error?.description.contains("header length at byte 0 is 0") == true)
    }

    @Test func headerLengthAboveLimit() throws {
        let (error, path) = try rejection(safetensorsBytes(header: "{}", declaredLength: 100_000_001))
        #expect(error == .headerTooLarge(file: path, length: 100_000_001))
        #expect(error?.description.contains("expected at most 100000000 bytes") == true)
    }

    @Test func headerLengthBeyondTheFile() throws {
        let (error, path) = try rejection(safetensorsBytes(header: "{}      ", declaredLength: 9))
        #expect(error == .headerBeyondFile(file: path, length: 9, available: 8))
        #expect(error?.description == "\(path): header length at byte 0 is 9 but only 8 bytes follow it; expected at most 8 (file truncated or not safetensors)")
        // A u64 that does not fit Int at all.
        let (huge, hugePath) = try rejection(lengthPrefix(UInt64.max) + Array("{}".utf8))
        #expect(huge == .headerTooLarge(file: hugePath, length: UInt64.max))
    }

    @Test func headerNotUTF8() throws {
        var bytes = safetensorsBytes(header: #"{"__metadata__":{"k":"vX"}}"#)
        bytes[8 + 23] = 0xFF  // the X
        let (error, path) = try rejection(bytes)
        #expect(error == .headerNotUTF8(file: path, offset: 31))
        #expect(error?.description.contains("not UTF-8 at byte 31") == true)
    }

    @Test func headerNotJSON() throws {
        let (error, path) = try rejection(safetensorsBytes(header: #"{"a":{"dtype":"F32",}"#))
        guard case .headerNotJSON(let file, let reason)? = error else {
            Issue.record("expected headerNotJSON, got \(String(describing: error))")
            return
        }
        #expect(file == path)
        #expect(!reason.isEmpty)
        #expect(error?.description.contains("header at byte 8 is not valid JSON") == true)
    }

    @Test func headerJSONNotAnObject() throws {
        let (error, path) = try rejection(safetensorsBytes(header: "[1, 2]"))
        #expect(error == .headerNotObject(file: path, offset: 8, found: "'['"))
        #expect(error?.description == "\(path): header at byte 8 starts with '['; expected a JSON object starting with '{'")
        // The format requires the object to start at the first header byte: no leading spaces.
        let (spaced, spacedPath) = try rejection(safetensorsBytes(header: "  {}"))
        #expect(spaced == .headerNotObject(file: spacedPath, offset: 8, found: "byte 0x20"))
    }

    @Test func duplicateTensorName() throws {
        let duplicate = #""a":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}"#
        let (error, path) = try rejection(safetensorsBytes(header: "{\(Self.a),\(duplicate)}", data: Self.data))
        #expect(error == .duplicateKey(file: path, key: "a", offset: 8 + 1 + Self.a.utf8.count + 1, firstOffset: 9))
        #expect(error?.description.contains("repeats the key at byte 9") == true)
        // The same name spelled with an escape is the same key.
        let escaped = #""\u0061":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}"#
        let (second, secondPath) = try rejection(safetensorsBytes(header: "{\(Self.a),\(escaped)}", data: Self.data))
        #expect(second == .duplicateKey(file: secondPath, key: "a", offset: 8 + 1 + Self.a.utf8.count + 1, firstOffset: 9))
    }

    @Test func emptyTensorName() throws {
        let (error, path) = try rejection(
            safetensorsBytes(header: #"{"":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        #expect(error == .emptyTensorName(file: path, offset: 9))
        #expect(error?.description.contains("empty name") == true)
    }

    @Test func unknownDType() throws {
        let header = #"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: header, data: [1, 2, 3, 4]))
        #expect(error == .unknownDType(file: path, tensor: "w", dtype: "F8_E4M3", offset: 9))
        #expect(error?.description == "\(path): tensor \"w\" (header byte 9): dtype \"F8_E4M3\" is not supported; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL")
    }

    @Test func negativeShape() throws {
        let header = #"{"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: header, data: bytesOf([1, 2, 3, 4])))
        #expect(error == .negativeDimension(file: path, tensor: "w", shape: [-1, 4], offset: 9))
        #expect(error?.description.contains("shape [-1, 4] has a negative dimension") == true)
    }

    @Test func shapeOverflow() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: header, data: bytesOf([1, 2, 3, 4])))
        #expect(error == .shapeOverflow(file: path, tensor: "w", shape: [4_294_967_296, 4_294_967_296], offset: 9))
        #expect(error?.description.contains("overflows") == true)
    }

    @Test func shapeWithNonIntegers() throws {
        for (shape, found) in [("[2.5]", "a number (2.5)"), ("[true]", "a boolean (true)"), ("[4.0]", "a number (4.0)"),
                               ("[\"4\"]", "a string (\"4\")"), ("4", "a number (4)"), ("[18446744073709551615]", "a number (18446744073709551615)")] {
            let header = "{\"w\":{\"dtype\":\"U8\",\"shape\":\(shape),\"data_offsets\":[0,4]}}"
            let (error, path) = try rejection(safetensorsBytes(header: header, data: [1, 2, 3, 4]))
            let wrapped = shape.hasPrefix("[") ? "an array containing \(found)" : found
            #expect(error == .invalidTensorEntry(
                file: path, tensor: "w", field: "shape", offset: 9,
                expected: "an array of non-negative integers", found: wrapped), "\(shape)")
        }
    }

    @Test func missingAndUnexpectedFields() throws {
        let missing = #"{"w":{"dtype":"U8","data_offsets":[0,4]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: missing, data: [1, 2, 3, 4]))
        #expect(error == .invalidTensorEntry(file: path, tensor: "w", field: "shape", offset: 9, expected: "present", found: "missing"))
        #expect(error?.description == "\(path): tensor \"w\" (header byte 9): field \"shape\" is missing; expected present")

        let extra = #"{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"offset":0}}"#
        let (second, secondPath) = try rejection(safetensorsBytes(header: extra, data: [1, 2, 3, 4]))
        #expect(second == .invalidTensorEntry(
            file: secondPath, tensor: "w", field: "offset", offset: 9,
            expected: "only dtype, shape and data_offsets in a tensor entry", found: "an unexpected field"))

        let notObject = #"{"w":[1,2]}"#
        let (third, thirdPath) = try rejection(safetensorsBytes(header: notObject))
        #expect(third == .invalidTensorEntry(
            file: thirdPath, tensor: "w", field: "", offset: 9,
            expected: "an object with dtype, shape and data_offsets", found: "an array"))
    }

    @Test func shapeAndByteLengthMismatch() throws {
        // 2x3 F32 needs 24 bytes; the offsets give 16.
        let header = #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#
        let bytes = safetensorsBytes(header: header, data: bytesOf([1, 2, 3, 4]))
        let (error, path) = try rejection(bytes)
        let dataStart = 8 + header.utf8.count
        #expect(error == .byteLengthMismatch(file: path, tensor: "w", dtype: .f32, shape: [2, 3], offset: dataStart, expected: 24, actual: 16))
        #expect(error?.description == "\(path): tensor \"w\" at byte \(dataStart) has 16 data bytes; expected 24 (F32 x shape [2, 3])")
    }

    @Test func offsetsOutOfBounds() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: header, data: bytesOf([1, 2, 3, 4])))
        let dataStart = 8 + header.utf8.count
        #expect(error == .offsetsOutOfBounds(file: path, tensor: "w", begin: 0, end: 32, dataStart: dataStart, dataSize: 16))
        #expect(error?.description.contains("end is past the data section (bytes \(dataStart)..<\(dataStart + 16), 16 bytes)") == true)

        let reversed = #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}"#
        let (second, secondPath) = try rejection(safetensorsBytes(header: reversed, data: bytesOf([1, 2, 3, 4])))
        #expect(second == .offsetsOutOfBounds(
            file: secondPath, tensor: "w", begin: 16, end: 0, dataStart: 8 + reversed.utf8.count, dataSize: 16))
        #expect(second?.description.contains("begin is after end") == true)

        let negative = #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[-4,0]}}"#
        let (third, thirdPath) = try rejection(safetensorsBytes(header: negative, data: []))
        #expect(third == .invalidTensorEntry(
            file: thirdPath, tensor: "w", field: "data_offsets", offset: 9,
            expected: "two non-negative integers [begin, end]", found: "[a number (-4), a number (0)]"))
    }

    @Test func overlappingTensors() throws {
        let overlapping = #""b":{"dtype":"I32","shape":[2],"data_offsets":[12,20]}"#
        let header = "{\(Self.a),\(overlapping)}"
        let (error, path) = try rejection(safetensorsBytes(header: header, data: Self.data.dropLast(4)))
        let dataStart = 8 + header.utf8.count
        #expect(error == .overlappingTensors(file: path, tensor: "b", other: "a", offset: dataStart + 12, otherEnd: dataStart + 16))
        #expect(error?.description == "\(path): tensor \"b\" starts at byte \(dataStart + 12), inside tensor \"a\" which ends at byte \(dataStart + 16); expected non-overlapping tensors")
    }

    @Test func holeBetweenTensors() throws {
        let later = #""b":{"dtype":"I32","shape":[2],"data_offsets":[20,28]}"#
        let header = "{\(Self.a),\(later)}"
        let (error, path) = try rejection(safetensorsBytes(header: header, data: Self.data + [0, 0, 0, 0]))
        let dataStart = 8 + header.utf8.count
        #expect(error == .holeInData(file: path, offset: dataStart + 16, length: 4, after: "a", before: "b"))
        #expect(error?.description == "\(path): bytes \(dataStart + 16)..<\(dataStart + 20) (4 bytes, after tensor \"a\", before tensor \"b\") belong to no tensor; expected the data section to be covered without holes")
    }

    @Test func holeAtTheStartAndBytesAfterTheLastTensor() throws {
        let header = #"{"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]}}"#
        let (error, path) = try rejection(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 16)))
        #expect(error == .holeInData(file: path, offset: 8 + header.utf8.count, length: 8, after: nil, before: "b"))
        #expect(error?.description.contains("at the start of the data section") == true)

        let trailing = "{\(Self.a),\(Self.b)}"
        let (second, secondPath) = try rejection(safetensorsBytes(header: trailing, data: Self.data + [9, 9, 9]))
        let end = 8 + trailing.utf8.count + 24
        #expect(second == .holeInData(file: secondPath, offset: end, length: 3, after: "b", before: nil))
        #expect(second?.description.contains("up to the end of the file") == true)
    }

    @Test func nonStringMetadataValue() throws {
        let header = #"{"__metadata__":{"format":"ventriq-float","format_version":1},"#  + Self.a + "}"
        let (error, path) = try rejection(safetensorsBytes(header: header, data: bytesOf([1, 2, 3, 4])))
        #expect(error == .invalidMetadata(file: path, key: "format_version", offset: 9, found: "a number (1)"))
        #expect(error?.description == "\(path): __metadata__ value of \"format_version\" at byte 9 is a number (1); expected a string")

        let (second, secondPath) = try rejection(safetensorsBytes(header: #"{"__metadata__":["x"]}"#))
        #expect(second == .invalidMetadata(file: secondPath, key: nil, offset: 9, found: "an array"))
    }

    @Test func missingTensorByName() throws {
        let url = try writeTemporaryFile(safetensorsBytes(header: "{\(Self.a),\(Self.b)}", data: Self.data))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(throws: ModelFileError.missingTensor("c", url.path)) { try file.info("c") }
        #expect(throws: ModelFileError.missingTensor("c", url.path)) { try file.floats("c") }
        #expect(throws: ModelFileError.missingTensor("c", url.path)) { try file.withUnsafeBytes(of: "c") { $0.count } }
        #expect(ModelFileError.missingTensor("c", url.path).description == "\(url.path): no tensor named \"c\"; expected the model to contain it")
        #expect(!file.contains("c") && file.contains("a"))
    }

    @Test func wrongExpectedShape() throws {
        let url = try writeTemporaryFile(safetensorsBytes(header: "{\(Self.a),\(Self.b)}", data: Self.data))
        let file = try SafeTensorsFile(contentsOf: url)
        let expected = ModelFileError.shapeMismatch(file: url.path, tensor: "a", expected: [4], actual: [2, 2])
        #expect(throws: expected) { try file.floats("a", expectedShape: [4]) }
        #expect(expected.description == "\(url.path): tensor \"a\" has shape [2, 2]; expected [4]")
    }

    @Test func wrongDType() throws {
        let url = try writeTemporaryFile(safetensorsBytes(header: "{\(Self.a),\(Self.b)}", data: Self.data))
        let file = try SafeTensorsFile(contentsOf: url)
        let floatsOfInts = ModelFileError.dtypeMismatch(file: url.path, tensor: "b", expected: [.f32, .f16, .bf16, .f64], actual: .i32)
        #expect(throws: floatsOfInts) { try file.floats("b") }
        #expect(floatsOfInts.description == "\(url.path): tensor \"b\" has dtype I32; expected F32 or F16 or BF16 or F64")
        #expect(throws: ModelFileError.dtypeMismatch(file: url.path, tensor: "a", expected: [.i8], actual: .f32)) {
            try file.int8s("a")
        }
        #expect(throws: ModelFileError.dtypeMismatch(file: url.path, tensor: "a", expected: [.i32], actual: .f32)) {
            try file.int32s("a")
        }
    }

    @Test func cannotOpenMissingFileOrDirectory() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-model")
        let missing = directory.appendingPathComponent("absent.safetensors")
        #expect(throws: ModelFileError.cannotOpen(file: missing.path, reason: "No such file or directory")) {
            try SafeTensorsFile(contentsOf: missing)
        }
        #expect(throws: ModelFileError.notARegularFile(file: directory.path)) {
            try SafeTensorsFile(contentsOf: directory)
        }
    }
}

/// Files that are unusual but valid must open.
@Suite struct AcceptedLayoutTests {
    @Test func emptyHeaderWithPaddingAndNoTensors() throws {
        let url = try writeTemporaryFile(safetensorsBytes(header: "{}\r\n\t     "))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.tensors.isEmpty && file.metadata.isEmpty && file.headerByteCount == 10)
    }

    @Test func zeroSizedTensorsAndScalars() throws {
        let header = #"{"e1":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e2":{"dtype":"I8","shape":[0],"data_offsets":[4,4]}}"#
        let url = try writeTemporaryFile(safetensorsBytes(header: header, data: bytesOf([7])))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.tensors.map(\.name) == ["e1", "s", "e2"])
        #expect(try file.floats("s", expectedShape: []) == [7])
        #expect(try file.floats("e1") == [] && file.int8s("e2") == [])
    }

    /// A header length that is not a multiple of 4 leaves F32 data unaligned in memory; reads
    /// must still be exact (and must not trap).
    @Test func unalignedDataIsReadExactly() throws {
        let header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}"#
        #expect((8 + header.utf8.count) % 4 != 0)
        let values: [Float] = [1.25, -3.5e-20, .greatestFiniteMagnitude]
        let url = try writeTemporaryFile(safetensorsBytes(header: header, data: bytesOf(values) + withUnsafeBytes(of: 2.5) { Array($0) }))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(try file.floats("w") == values)
        #expect(try file.doubles("d") == [2.5])
        var destination = [Float](repeating: 0, count: 3)
        try destination.withUnsafeMutableBufferPointer { try file.copyFloats("w", into: $0) }
        #expect(destination == values)
        var tooSmall = [Float](repeating: 0, count: 2)
        #expect(throws: ModelFileError.destinationSizeMismatch(file: url.path, tensor: "w", expected: 3, actual: 2)) {
            try tooSmall.withUnsafeMutableBufferPointer { try file.copyFloats("w", into: $0) }
        }
    }

    /// Header entries in any order; `tensors` comes back in file-offset order.
    @Test func tensorsAreListedInOffsetOrder() throws {
        let header = #"{"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#
        let url = try writeTemporaryFile(safetensorsBytes(header: header, data: [1, 2, 3]))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.tensors.map(\.name) == ["z", "a"])
        #expect(file.metadata == ["k": "v"])
        #expect(try file.info("a").byteRange == (8 + header.utf8.count + 2) ..< (8 + header.utf8.count + 3))
    }

    #if os(Linux)
    /// The mapping lives exactly as long as the object, and a rejected file leaves no mapping.
    @Test func mappingIsReleased() throws {
        func isMapped(_ url: URL) throws -> Bool {
            // Read to the end: /proc files report size 0, so a size-based read may stop early.
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps"))
            defer { try? handle.close() }
            return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self).contains(url.path)
        }
        let url = try writeTemporaryFile(safetensorsBytes(header: #"{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#, data: [1, 2, 3]))
        do {
            let file = try SafeTensorsFile(contentsOf: url)
            #expect(try isMapped(url))
            #expect(try file.uint8s("w") == [1, 2, 3])
        }
        #expect(try !isMapped(url))

        let bad = try writeTemporaryFile(safetensorsBytes(header: #"{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,3]}}"#, data: [1, 2, 3]))
        #expect(throws: ModelFileError.self) { try SafeTensorsFile(contentsOf: bad) }
        #expect(try !isMapped(bad))
    }
    #endif
}
