import Foundation

/// One parsed WFDB signal line, WFDB's defaults applied (as wfdb-python applies them).
struct WFDBSignalSpec: Sendable, Equatable {
    var line: Int
    var fileName: String
    var format: WFDBFormat
    var samplesPerFrame: Int
    var skew: Int
    var byteOffset: Int
    var gain: Double
    var baseline: Int
    var unit: String
    var adcResolution: Int?
    var adcZero: Int
    var initialValue: Int?
    var checksum: Int?
    var blockSize: Int
    var name: String

    var info: WFDBSignalInfo {
        WFDBSignalInfo(
            signalFile: fileName, formatCode: format.rawValue, gain: gain, baseline: baseline, adcZero: adcZero,
            adcResolution: adcResolution, initialValue: initialValue, checksum: checksum, byteOffset: byteOffset,
            samplesPerFrame: samplesPerFrame, skew: skew, blockSize: blockSize, headerLine: line)
    }
}

/// A parsed single-segment WFDB header (https://physionet.org/physiotools/wag/header-5.htm).
///
/// Record line: `name[/nseg] nsig [fs[/counterfreq[(base)]] [nsamp [time [date]]]]`.
/// Signal line: `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero
/// [initval [checksum [blocksize [description]]]]]]]`. Lines starting with `#` are comments.
struct WFDBHeader: Sendable, Equatable {
    var path: String
    var recordName: String
    var samplingRateHz: Double
    var counterFrequency: String?
    /// nil when the record line gives no sample count (or 0): the signal file's size decides.
    var sampleCount: Int?
    var baseTime: String?
    var baseDate: String?
    var signals: [WFDBSignalSpec]
    var comments: [String]

    /// WFDB's default sampling frequency when the record line gives none.
    static let defaultSamplingRateHz = 250.0
    /// WFDB's default ADC gain when a signal line gives none (or 0).
    static let defaultGain = 200.0
    static let maxSamplesPerFrame = 1 << 20
    static let maxSkew = Int(Int32.max)

    /// Parses header text; `path` is only used in errors.
    init(text: String, path: String) throws {
        self.path = path
        var comments: [String] = []
        // (1-based line number, trimmed content) of every non-comment, non-blank line.
        var lines: [(number: Int, text: Substring)] = []
        var number = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty { continue }
            if line.first == "#" {
                comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
            } else {
                lines.append((number, line))
            }
        }
        self.comments = comments
        guard let recordLine = lines.first else {
            throw RecordingError.syntax(path: path, line: max(number, 1), expected: "a record line", found: "end of file")
        }

        var fields = Tokens(recordLine.text)
        let l = recordLine.number
        let nameField = fields.next()!  // the line is non-blank
        if let slash = nameField.firstIndex(of: "/") {
            let segments = nameField[nameField.index(after: slash)...]
            guard Int(segments) != nil else {
                throw RecordingError.syntax(path: path, line: l, expected: "record name[/number of segments]",
                                            found: String(nameField))
            }
            throw RecordingError.unsupported(path: path, line: l,
                                             feature: "multi-segment record '\(nameField)' (\(segments) segments)")
        }
        recordName = String(nameField)
        guard let countField = fields.next() else {
            throw RecordingError.syntax(path: path, line: l, expected: "the number of signals after the record name",
                                        found: String(recordLine.text))
        }
        guard let signalCount = Int(countField), signalCount >= 0 else {
            throw RecordingError.syntax(path: path, line: l, expected: "a number of signals", found: String(countField))
        }

        samplingRateHz = Self.defaultSamplingRateHz
        counterFrequency = nil
        if let rateField = fields.next() {
            let parts = rateField.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rate = Double(parts[0]), rate.isFinite, rate > 0, parts[0].allSatisfy(Self.isDecimalChar) else {
                throw RecordingError.invalidSamplingRate(path: path, line: l, text: String(rateField))
            }
            samplingRateHz = rate
            if parts.count > 1 { counterFrequency = String(parts[1]) }
        }
        sampleCount = nil
        if let countField = fields.next() {
            guard let count = Int(countField), count >= 0 else {
                throw RecordingError.syntax(path: path, line: l, expected: "a number of samples per signal",
                                            found: String(countField))
            }
            // WFDB: 0 means "unspecified", like an absent field.
            sampleCount = count == 0 ? nil : count
        }
        baseTime = fields.next().map(String.init)
        baseDate = fields.next().map(String.init)

        var signals: [WFDBSignalSpec] = []
        signals.reserveCapacity(min(signalCount, lines.count))
        for index in 0..<signalCount {
            guard index + 1 < lines.count else {
                throw RecordingError.missingSignalLines(path: path, line: lines[lines.count - 1].number + 1,
                                                        declared: signalCount,
                                                        found: index)
            }
            let (lineNumber, text) = lines[index + 1]
            signals.append(try Self.parseSignalLine(text, line: lineNumber, index: index, path: path))
        }
        if lines.count > signalCount + 1 {
            let extra = lines[signalCount + 1]
            throw RecordingError.syntax(path: path, line: extra.number,
                                        expected: "only the \(signalCount) signal lines declared on line \(l)",
                                        found: String(extra.text))
        }
        self.signals = signals
    }

    private static func parseSignalLine(_ text: Substring, line: Int, index: Int, path: String) throws -> WFDBSignalSpec {
        var fields = Tokens(text)
        func fail(_ expected: String, _ found: Substring) -> RecordingError {
            RecordingError.syntax(path: path, line: line, expected: expected, found: String(found))
        }
        func int(_ field: Substring?, _ what: String) throws -> Int? {
            guard let field else { return nil }
            guard let value = Int(field) else { throw fail(what, field) }
            return value
        }

        let fileName = String(fields.next()!)
        guard let formatField = fields.next() else { throw fail("a signal format after the file name", text) }

        // format[xspf][:skew][+offset]
        let codeText = formatField.prefix(while: \.isASCIIDigit)
        guard let code = Int(codeText) else { throw fail("a signal format code", formatField) }
        guard let format = WFDBFormat(rawValue: code) else {
            throw RecordingError.unknownFormat(path: path, line: line, format: String(codeText),
                                               supported: WFDBFormat.supportedCodes)
        }
        var samplesPerFrame = 1, skew = 0, byteOffset = 0
        var rest = formatField[codeText.endIndex...]
        while let marker = rest.first {
            let digits = rest.dropFirst().prefix(while: \.isASCIIDigit)
            guard let value = Int(digits) else {
                throw fail("format[xsamples per frame][:skew][+byte offset]", formatField)
            }
            switch marker {
            case "x": samplesPerFrame = value
            case ":": skew = value
            case "+": byteOffset = value
            default: throw fail("format[xsamples per frame][:skew][+byte offset]", formatField)
            }
            rest = rest[digits.endIndex...]
        }
        // Bounds keep frame arithmetic far from overflow; real records use a few samples per frame.
        guard (1...Self.maxSamplesPerFrame).contains(samplesPerFrame) else {
            throw fail("1 to \(Self.maxSamplesPerFrame) samples per frame", formatField)
        }
        guard skew <= Self.maxSkew else { throw fail("a skew of at most \(Self.maxSkew) frames", formatField) }

        // gain[(baseline)][/units]
        var gain = defaultGain, baseline: Int?, unit = "mV"
        if let gainField = fields.next() {
            let gainText = gainField.prefix { $0 != "(" && $0 != "/" }
            guard let value = Double(gainText), value.isFinite, gainText.allSatisfy(isDecimalChar) else {
                throw fail("an ADC gain[(baseline)][/units]", gainField)
            }
            // WFDB: a gain of 0 means "uncalibrated", read as the default 200.
            gain = value == 0 ? defaultGain : value
            var rest = gainField[gainText.endIndex...]
            if rest.first == "(" {
                guard let close = rest.firstIndex(of: ")"),
                      let value = Int(rest[rest.index(after: rest.startIndex)..<close]) else {
                    throw fail("gain(baseline) with an integer baseline", gainField)
                }
                baseline = value
                rest = rest[rest.index(after: close)...]
            }
            if rest.first == "/" {
                let written = rest.dropFirst()
                if !written.isEmpty { unit = String(written) }
            } else if !rest.isEmpty {
                throw fail("gain[(baseline)][/units]", gainField)
            }
        }
        let adcResolution = try int(fields.next(), "an ADC resolution in bits")
        let adcZeroField = fields.next()
        let adcZero = try int(adcZeroField, "an ADC zero") ?? 0
        let initialValue = try int(fields.next(), "an initial value")
        let checksum = try int(fields.next(), "a checksum")
        let blockSize = try int(fields.next(), "a block size") ?? 0
        let description = fields.remainder.trimmingWhitespace()

        return WFDBSignalSpec(
            line: line, fileName: fileName, format: format, samplesPerFrame: samplesPerFrame, skew: skew,
            byteOffset: byteOffset, gain: gain,
            // WFDB: an absent baseline equals the ADC zero (0 when that is absent too).
            baseline: baseline ?? adcZero, unit: unit, adcResolution: adcResolution, adcZero: adcZero,
            initialValue: initialValue, checksum: checksum, blockSize: blockSize,
            name: description.isEmpty ? "signal \(index)" : String(description))
    }

    /// Digits, sign, point and exponent: what a WFDB number may contain (rules out "inf", hex).
    private static func isDecimalChar(_ c: Character) -> Bool {
        c.isASCIIDigit || c == "." || c == "-" || c == "+" || c == "e" || c == "E"
    }
}

/// Whitespace-separated fields of a line, with the unsplit remainder (a WFDB signal description
/// may contain spaces).
struct Tokens {
    private(set) var remainder: Substring

    init(_ text: Substring) { remainder = text }

    mutating func next() -> Substring? {
        remainder = remainder.drop { $0 == " " || $0 == "\t" }
        guard !remainder.isEmpty else { return nil }
        let token = remainder.prefix { $0 != " " && $0 != "\t" }
        remainder = remainder[token.endIndex...]
        return token
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        let s = Substring(self)
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = s.firstIndex(where: { !isSpace($0) }) else { return s[s.endIndex...] }
        let last = s.lastIndex(where: { !isSpace($0) })!
        return s[first...last]
    }
}
