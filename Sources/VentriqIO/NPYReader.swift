import Foundation

/// Reads 2-D NumPy `.npy` arrays (format versions 1.0, 2.0, 3.0; see numpy.lib.format).
///
/// Element types: float32, float64, int8, uint8, int16, uint16, int32, little- or big-endian
/// (`<f4`, `>f8`, `|i1`, ...); C or Fortran order. Values are physical values in
/// `NPYOptions.unit`, scaled to mV in Double and rounded once to Float (float32 input in mV is
/// copied exactly; NaN stays NaN). Rate, layout and lead names come from `NPYOptions`.
enum NPYReader {
    /// Reads the file whole; allocates one `[Float]` per lead (owned by the result).
    static func read(_ url: URL, options: NPYOptions) throws -> Recording {
        let path = url.path
        let data = try readFile(url)
        let header = try NPYHeader(data, path: path)
        let (leads, samples) = header.dimensions(layout: options.layout)
        let rate = try samplingRate(options, path: path)
        let names = try leadNames(options, leads: leads, path: path)
        guard let unit = VoltageUnit(options.unit) else {
            throw RecordingError.unknownUnit(path: path, line: nil, channel: "all leads", unit: options.unit)
        }
        // Element strides of the lead and sample axes in the stored order.
        let (rows, columns) = (header.shape[0], header.shape[1])
        let rowStride = header.fortranOrder ? 1 : columns
        let columnStride = header.fortranOrder ? rows : 1
        let (leadStride, sampleStride) = options.layout == .leadsBySamples
            ? (rowStride, columnStride) : (columnStride, rowStride)

        let channels = data.withUnsafeBytes { raw -> [Channel] in
            let elements = UnsafeRawBufferPointer(rebasing: raw[header.dataOffset...])
            return (0..<leads).map { lead in
                let samples = [Float](unsafeUninitializedCapacity: samples) { out, initialized in
                    header.dtype.convert(elements, first: lead * leadStride, stride: sampleStride, unit: unit, into: out)
                    initialized = samples
                }
                return Channel(name: names[lead], unit: options.unit, samples: samples)
            }
        }
        return Recording(name: url.deletingPathExtension().lastPathComponent, source: path, samplingRateHz: rate,
                         channels: channels, sampleCount: samples)
    }

    /// Header facts (the whole file is read to check the data is all there).
    static func info(_ url: URL, options: NPYOptions) throws -> RecordingInfo {
        let path = url.path
        let header = try NPYHeader(try readFile(url), path: path)
        let (leads, samples) = header.dimensions(layout: options.layout)
        let rate = try samplingRate(options, path: path)
        let names = try leadNames(options, leads: leads, path: path)
        return RecordingInfo(
            format: .npy, name: url.deletingPathExtension().lastPathComponent, paths: [path], samplingRateHz: rate,
            sampleCount: samples, channels: names.map { ChannelInfo(name: $0, unit: options.unit) },
            npy: NPYFileInfo(version: header.version, dtype: header.dtype.descriptor, fortranOrder: header.fortranOrder,
                             shape: header.shape, layout: options.layout, dataOffset: header.dataOffset))
    }

    private static func leadNames(_ options: NPYOptions, leads: Int, path: String) throws -> [String] {
        let names = options.leadNames ?? NPYOptions.standardLeadNames
        guard names.count == leads else {
            throw RecordingError.leadCountMismatch(path: path, leadsInFile: leads, namesGiven: names.count)
        }
        return names
    }

    private static func samplingRate(_ options: NPYOptions, path: String) throws -> Double {
        guard let rate = options.samplingRateHz else {
            throw RecordingError.missingSamplingRate(
                path: path, remedy: "NPY files carry no sampling rate; give it in the read options "
                    + "(NPYOptions.samplingRateHz)")
        }
        guard rate.isFinite, rate > 0 else {
            throw RecordingError.invalidSamplingRate(path: path, line: nil, text: "\(rate)")
        }
        return rate
    }
}

/// The element type of an NPY array.
struct NPYDType: Equatable {
    enum Kind: Equatable { case float32, float64, int8, uint8, int16, uint16, int32 }
    var kind: Kind
    var bigEndian: Bool
    var descriptor: String

    static let supported = ["<f4", "<f8", "|i1", "|u1", "<i2", "<u2", "<i4", "(and the big-endian '>' forms)"]

    init?(_ descriptor: String) {
        self.descriptor = descriptor
        guard descriptor.count == 3, let order = descriptor.first, "<>|=".contains(order) else { return nil }
        switch descriptor.dropFirst() {
        case "f4": kind = .float32
        case "f8": kind = .float64
        case "i1": kind = .int8
        case "u1": kind = .uint8
        case "i2": kind = .int16
        case "u2": kind = .uint16
        case "i4": kind = .int32
        default: return nil
        }
        bigEndian = order == ">"
        // '|' (no byte order) is only meaningful for one-byte types.
        if order == "|", size != 1 { return nil }
    }

    var size: Int {
        switch kind {
        case .int8, .uint8: return 1
        case .int16, .uint16: return 2
        case .float32, .int32: return 4
        case .float64: return 8
        }
    }

    /// Converts the elements `first`, `first + stride`, ... into `out` (one per slot). Allocates nothing.
    func convert(_ bytes: UnsafeRawBufferPointer, first: Int, stride: Int, unit: VoltageUnit,
                 into out: UnsafeMutableBufferPointer<Float>) {
        let swap = bigEndian
        switch kind {
        case .float32:
            run(bytes, first, stride, out, unit) { Double(Float(bitPattern: Self.order(UInt32.self, $0, $1, swap))) }
        case .float64:
            run(bytes, first, stride, out, unit) { Double(bitPattern: Self.order(UInt64.self, $0, $1, swap)) }
        case .int8:
            run(bytes, first, stride, out, unit) { Double($0.load(fromByteOffset: $1, as: Int8.self)) }
        case .uint8:
            run(bytes, first, stride, out, unit) { Double($0.load(fromByteOffset: $1, as: UInt8.self)) }
        case .int16:
            run(bytes, first, stride, out, unit) { Double(Int16(bitPattern: Self.order(UInt16.self, $0, $1, swap))) }
        case .uint16:
            run(bytes, first, stride, out, unit) { Double(Self.order(UInt16.self, $0, $1, swap)) }
        case .int32:
            run(bytes, first, stride, out, unit) { Double(Int32(bitPattern: Self.order(UInt32.self, $0, $1, swap))) }
        }
    }

    @inline(__always)
    private func run(_ bytes: UnsafeRawBufferPointer, _ first: Int, _ stride: Int,
                     _ out: UnsafeMutableBufferPointer<Float>, _ unit: VoltageUnit,
                     load: (UnsafeRawBufferPointer, Int) -> Double) {
        let size = self.size
        for i in 0..<out.count {
            out[i] = unit.millivolts(load(bytes, (first + i * stride) * size))
        }
    }

    @inline(__always)
    private static func order<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int,
                                                    _ swap: Bool) -> T {
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        return swap ? T(bigEndian: value) : T(littleEndian: value)
    }
}

/// A parsed NPY header: magic, version, header length, then a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (12, 5000), }`.
struct NPYHeader {
    var version: String
    var dtype: NPYDType
    var fortranOrder: Bool
    var shape: [Int]
    var dataOffset: Int

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Parses and validates the header of `data`, including that the array's bytes are present.
    init(_ data: Data, path: String) throws {
        let bytes = [UInt8](data.prefix(65_536 + 12))
        let prefix = Array(bytes.prefix(6))
        guard prefix == Self.magic else {
            throw RecordingError.invalidHeader(path: path, byteOffset: 0, expected: "the NPY magic \\x93NUMPY",
                                               found: Self.describe(prefix))
        }
        guard bytes.count >= 10 else {
            throw RecordingError.truncated(path: path, byteOffset: bytes.count, dataStart: 0, expectedBytes: 10,
                                           what: "the NPY magic, version and header length")
        }
        let major = bytes[6]
        guard (1...3).contains(major) else {
            throw RecordingError.invalidHeader(path: path, byteOffset: 6, expected: "NPY format version 1, 2 or 3",
                                               found: "version \(major).\(bytes[7])")
        }
        version = "\(major).\(bytes[7])"
        let headerStart = major == 1 ? 10 : 12
        guard bytes.count >= headerStart else {
            throw RecordingError.truncated(path: path, byteOffset: bytes.count, dataStart: 0, expectedBytes: headerStart,
                                           what: "the NPY magic, version and header length")
        }
        let headerLength = major == 1
            ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard data.count >= headerStart + headerLength else {
            throw RecordingError.truncated(path: path, byteOffset: data.count, dataStart: headerStart,
                                           expectedBytes: headerLength, what: "the NPY header")
        }
        let headerBytes = [UInt8](data[data.startIndex + headerStart ..< data.startIndex + headerStart + headerLength])
        var parser = DictParser(bytes: headerBytes, base: headerStart, path: path)
        let dict = try parser.parse()

        func value(_ key: String) throws -> (DictParser.Value, Int) {
            guard let entry = dict[key] else {
                throw RecordingError.invalidHeader(path: path, byteOffset: headerStart, expected: "a '\(key)' entry",
                                                   found: "'\(String(decoding: headerBytes, as: UTF8.self))'")
            }
            return entry
        }
        let (descr, _) = try value("descr")
        guard case .string(let descriptor) = descr else {
            throw RecordingError.unsupportedDType(path: path, dtype: descr.text, supported: NPYDType.supported)
        }
        guard let dtype = NPYDType(descriptor) else {
            throw RecordingError.unsupportedDType(path: path, dtype: descriptor, supported: NPYDType.supported)
        }
        self.dtype = dtype
        let (order, orderOffset) = try value("fortran_order")
        guard case .bool(let fortran) = order else {
            throw RecordingError.invalidHeader(path: path, byteOffset: orderOffset,
                                               expected: "True or False for 'fortran_order'", found: order.text)
        }
        fortranOrder = fortran
        let (shapeValue, shapeOffset) = try value("shape")
        guard case .tuple(let shape) = shapeValue, shape.count == 2 else {
            throw RecordingError.invalidHeader(path: path, byteOffset: shapeOffset,
                                               expected: "a 2-D shape (leads, samples) or (samples, leads)",
                                               found: shapeValue.text)
        }
        self.shape = shape
        dataOffset = headerStart + headerLength
        let (count, overflow) = shape[0].multipliedReportingOverflow(by: shape[1])
        let needed = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, !needed.overflow, data.count - dataOffset >= needed.partialValue else {
            throw RecordingError.truncated(path: path, byteOffset: data.count, dataStart: dataOffset,
                                           expectedBytes: needed.partialValue,
                                           what: "a (\(shape[0]), \(shape[1])) \(descriptor) array")
        }
    }

    /// (leads, samples) for a layout.
    func dimensions(layout: SampleLayout) -> (leads: Int, samples: Int) {
        layout == .leadsBySamples ? (shape[0], shape[1]) : (shape[1], shape[0])
    }

    private static func describe(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? "an empty file" : bytes.map { String(format: "\\x%02X", $0) }.joined()
    }
}

/// The subset of Python literal syntax NPY headers use: a dict of quoted keys to strings,
/// True/False, and tuples of integers. Anything else is kept as text for messages.
struct DictParser {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        case other(String)

        var text: String {
            switch self {
            case .string(let s): return "'\(s)'"
            case .bool(let b): return b ? "True" : "False"
            case .tuple(let t): return "(" + t.map(String.init).joined(separator: ", ") + (t.count == 1 ? ",)" : ")")
            case .other(let s): return s
            }
        }
    }

    let bytes: [UInt8]
    /// File offset of `bytes[0]`, for messages.
    let base: Int
    let path: String
    var i = 0

    init(bytes: [UInt8], base: Int, path: String) {
        self.bytes = bytes
        self.base = base
        self.path = path
    }

    /// Key -> (value, file offset of the value).
    mutating func parse() throws -> [String: (Value, Int)] {
        var out: [String: (Value, Int)] = [:]
        skipSpace()
        try expect(UInt8(ascii: "{"), "'{' opening the header dict")
        while true {
            skipSpace()
            if peek == UInt8(ascii: "}") { i += 1; break }
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"), "':' after the key '\(key)'")
            skipSpace()
            let offset = base + i
            out[key] = (try value(), offset)
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"), "',' or '}' in the header dict")
            break
        }
        return out
    }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D { i += 1 }
    }

    private func error(_ expected: String) -> RecordingError {
        let rest = String(decoding: bytes[min(i, bytes.count)...].prefix(24), as: UTF8.self)
        return RecordingError.invalidHeader(path: path, byteOffset: base + i, expected: expected,
                                            found: rest.isEmpty ? "end of header" : "'\(rest)'")
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws {
        guard peek == c else { throw error(what) }
        i += 1
    }

    private mutating func string() throws -> String {
        guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw error("a quoted key")
        }
        let start = i + 1
        var j = start
        while j < bytes.count, bytes[j] != quote { j += 1 }
        guard j < bytes.count else { throw error("a closing quote") }
        i = j + 1
        return String(decoding: bytes[start..<j], as: UTF8.self)
    }

    private mutating func value() throws -> Value {
        guard let c = peek else { throw error("a value") }
        if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { return .string(try string()) }
        if bytes[i...].starts(with: Array("True".utf8)) { i += 4; return .bool(true) }
        if bytes[i...].starts(with: Array("False".utf8)) { i += 5; return .bool(false) }
        if c == UInt8(ascii: "(") {
            let start = i
            i += 1
            var items: [Int] = []
            var integers = true
            while true {
                skipSpace()
                if peek == UInt8(ascii: ")") { i += 1; break }
                let itemStart = i
                while let d = peek, d != UInt8(ascii: ","), d != UInt8(ascii: ")") { i += 1 }
                guard peek != nil else { throw error("')' closing the tuple") }
                let text = String(decoding: bytes[itemStart..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                if let n = Int(text), n >= 0 { items.append(n) } else { integers = false }
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1 }
            }
            return integers ? .tuple(items) : .other(String(decoding: bytes[start..<i], as: UTF8.self))
        }
        // A list (structured dtype) or anything else: keep its text, brackets balanced.
        let start = i
        var depth = 0
        while let d = peek {
            if d == UInt8(ascii: "[") || d == UInt8(ascii: "(") || d == UInt8(ascii: "{") { depth += 1 }
            if d == UInt8(ascii: "]") || d == UInt8(ascii: ")") || d == UInt8(ascii: "}") {
                if depth == 0 { break }
                depth -= 1
            }
            if d == UInt8(ascii: ","), depth == 0 { break }
            i += 1
        }
        return .other(String(decoding: bytes[start..<i], as: UTF8.self))
    }
}
