import Foundation

/// Reads ECG CSV files: one column per lead, one row per sample.
///
/// Syntax (UTF-8, an initial byte order mark ignored; lines are 1-based in errors; `\n` or
/// `\r\n` line ends; blank lines are skipped):
/// - Optional leading comment lines starting with `#`. Within them, `key=value` words set file
///   properties: `sampling_rate_hz=500` (the rate) and `unit=uV` (the unit of columns whose
///   header names none). Other comment text is ignored, so `# sampling_rate_hz=500 unit=mV` and
///   `# exported by X, sampling_rate_hz=500` both work.
/// - A header row of comma-separated column names, optionally in double quotes. A name may carry
///   its unit as `I (mV)` or `V1 [uV]`.
/// - Optionally a first column holding time or the sample index, recognised by its name: `time`,
///   `t`, `time_s`, `seconds`, `sec`, `s` (seconds, or milliseconds when its unit is `ms`),
///   `time_ms`, `ms` (milliseconds), `sample`, `samples`, `sample_index`, `index`, `n` (index).
///   It is checked to be numeric and not returned as a channel.
/// - Data rows of numbers (optionally quoted), as many cells as the header row.
///
/// Sampling rate, first found wins: `CSVOptions.samplingRateHz`; the comment's
/// `sampling_rate_hz`; a time column in seconds or milliseconds (uniform steps, within 1 % of
/// the first step). When the time column and a stated rate disagree by more than 0.1 % the file
/// is rejected. Units, first found wins: the column header, `CSVOptions.unit`, the comment's
/// `unit`, "mV". Numbers are parsed to Double (correctly rounded), scaled to mV, then rounded
/// once to Float.
enum CSVReader {
    /// Reads the file whole; allocates one `[Float]` per lead column (owned by the result) plus a
    /// copy of the file's bytes (freed on return).
    static func read(_ url: URL, options: CSVOptions) throws -> Recording {
        let parsed = try parse(url, options: options)
        return Recording(name: url.deletingPathExtension().lastPathComponent, source: url.path,
                         samplingRateHz: parsed.rate, channels: parsed.channels, sampleCount: parsed.rows)
    }

    /// Header facts; parses every row (the sample count and a time-derived rate need them).
    static func info(_ url: URL, options: CSVOptions) throws -> RecordingInfo {
        let parsed = try parse(url, options: options)
        return RecordingInfo(
            format: .csv, name: url.deletingPathExtension().lastPathComponent, paths: [url.path],
            samplingRateHz: parsed.rate, sampleCount: parsed.rows,
            channels: parsed.channels.map { ChannelInfo(name: $0.name, unit: $0.unit) },
            csv: CSVFileInfo(timeColumn: parsed.timeColumn, rateSource: parsed.rateSource, headerLine: parsed.headerLine))
    }

    private struct Parsed {
        var channels: [Channel]
        var rows: Int
        var rate: Double
        var rateSource: SamplingRateSource
        var timeColumn: String?
        var headerLine: Int
    }

    private enum TimeKind { case seconds, milliseconds, index }

    private struct Column {
        var name: String
        var unit: String?

        /// The header cell as written, for messages.
        var rawText: String { unit.map { "\(name) (\($0))" } ?? name }
    }

    private static func parse(_ url: URL, options: CSVOptions) throws -> Parsed {
        let path = url.path
        // One copy with a NUL terminator, so strtod can never read past a cell at the end of the file.
        var bytes = [UInt8](try readFile(url))
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer -> Parsed in
            var scanner = LineScanner(buffer: buffer)
            var commentRate: (value: Double, line: Int, text: String)?
            var commentUnit: String?

            // Leading comments, then the header row.
            var headerLine = 0
            var header: [Column] = []
            while let line = scanner.nextLine() {
                if line.isBlank { continue }
                if line.first == UInt8(ascii: "#") {
                    for (key, value) in line.commentProperties() {
                        switch key {
                        case "sampling_rate_hz":
                            guard let rate = Double(value), rate.isFinite, rate > 0 else {
                                throw RecordingError.invalidSamplingRate(path: path, line: line.number, text: value)
                            }
                            commentRate = (rate, line.number, value)
                        case "unit": commentUnit = value
                        default: break
                        }
                    }
                    continue
                }
                headerLine = line.number
                header = line.cells().map { parseColumnName(unquote(line.text($0))) }
                break
            }
            guard headerLine > 0 else {
                throw RecordingError.noSamples(path: path, detail: "no header row of lead names")
            }

            let timeKind = try timeColumnKind(header[0], path: path, line: headerLine)
            let firstLead = timeKind == nil ? 0 : 1
            guard header.count > firstLead else {
                throw RecordingError.syntax(path: path, line: headerLine, expected: "a header row naming lead columns",
                                            found: header.map(\.name).joined(separator: ","))
            }
            let defaultUnit = options.unit ?? commentUnit ?? "mV"
            let leadColumns = header[firstLead...]
            let units = try leadColumns.map { column -> VoltageUnit in
                let unit = column.unit ?? defaultUnit
                guard let voltage = VoltageUnit(unit) else {
                    throw RecordingError.unknownUnit(path: path, line: headerLine, channel: column.name, unit: unit)
                }
                return voltage
            }

            // Rows: reserve from the number of remaining line ends.
            let capacity = scanner.remainingLineCount()
            var samples = [[Float]](repeating: [], count: leadColumns.count)
            for k in samples.indices { samples[k].reserveCapacity(capacity) }
            var time = Time()
            var rows = 0
            var cells: [Range<Int>] = []
            cells.reserveCapacity(header.count)
            while let line = scanner.nextLine() {
                if line.isBlank || line.first == UInt8(ascii: "#") { continue }
                line.cells(into: &cells)
                guard cells.count == header.count else {
                    throw RecordingError.raggedRow(path: path, line: line.number, expectedColumns: header.count,
                                                   foundColumns: cells.count)
                }
                for (c, range) in cells.enumerated() {
                    let value = try parseNumber(buffer, range) { problem in
                        let text = String(line.text(range).trimmingWhitespace())
                        return problem == .nonFinite
                            ? RecordingError.nonFiniteCell(path: path, line: line.number, column: c + 1,
                                                           columnName: header[c].name, text: text)
                            : RecordingError.nonNumericCell(path: path, line: line.number, column: c + 1,
                                                            columnName: header[c].name, text: text)
                    }
                    if c < firstLead {
                        if timeKind != .index {
                            try time.add(timeKind == .milliseconds ? value / 1000 : value, line: line.number, path: path)
                        }
                    } else {
                        samples[c - firstLead].append(units[c - firstLead].millivolts(value))
                    }
                }
                rows += 1
            }
            guard rows > 0 else {
                throw RecordingError.noSamples(path: path, detail: "no data rows after the header row (line \(headerLine))")
            }

            // The rate: options, then the comment, then the time column.
            let timeRate = time.rate
            var rate: Double
            var source: SamplingRateSource
            var statedBy = ""
            if let given = options.samplingRateHz {
                guard given.isFinite, given > 0 else {
                    throw RecordingError.invalidSamplingRate(path: path, line: nil, text: "\(given)")
                }
                (rate, source, statedBy) = (given, .options, "the read options")
            } else if let comment = commentRate {
                (rate, source, statedBy) = (comment.value, .commentLine, "line \(comment.line)")
            } else if let timeRate {
                (rate, source) = (timeRate, .timeColumn)
            } else {
                throw RecordingError.missingSamplingRate(
                    path: path,
                    remedy: "add a comment line '# sampling_rate_hz=500' before the header row, a first column "
                        + "'time' in seconds, or give the rate in the read options (CSVOptions.samplingRateHz)")
            }
            if source != .timeColumn, let timeRate, abs(timeRate - rate) > 1e-3 * rate {
                throw RecordingError.conflictingSamplingRate(path: path, timeColumnHz: timeRate, statedHz: rate,
                                                             statedBy: statedBy)
            }
            let channels = zip(leadColumns, samples).map { column, values in
                Channel(name: column.name, unit: column.unit ?? defaultUnit, samples: values)
            }
            return Parsed(channels: channels, rows: rows, rate: rate, rateSource: source,
                          timeColumn: timeKind == nil ? nil : header[0].rawText, headerLine: headerLine)
        }
    }

    /// A header cell without its surrounding double quotes (`""` inside stands for one quote).
    private static func unquote(_ text: String) -> String {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.count >= 2, trimmed.first == "\"", trimmed.last == "\"" else { return String(trimmed) }
        return trimmed.dropFirst().dropLast().replacingOccurrences(of: "\"\"", with: "\"")
    }

    /// `I (mV)` -> ("I", "mV"); `V1 [uV]` -> ("V1", "uV"); `II` -> ("II", nil).
    private static func parseColumnName(_ text: String) -> Column {
        let trimmed = text.trimmingWhitespace()
        if let close = trimmed.last, close == ")" || close == "]" {
            let open: Character = close == ")" ? "(" : "["
            if let start = trimmed.lastIndex(of: open) {
                let name = trimmed[..<start].trimmingWhitespace()
                let unit = trimmed[trimmed.index(after: start)..<trimmed.index(before: trimmed.endIndex)]
                    .trimmingWhitespace()
                if !name.isEmpty { return Column(name: String(name), unit: unit.isEmpty ? nil : String(unit)) }
            }
        }
        return Column(name: String(trimmed), unit: nil)
    }

    private static func timeColumnKind(_ column: Column, path: String, line: Int) throws -> TimeKind? {
        let name = column.name.lowercased(), unit = column.unit?.lowercased()
        let kind: TimeKind
        switch name {
        case "time", "t", "time_s", "seconds", "sec", "s": kind = unit == "ms" ? .milliseconds : .seconds
        case "time_ms", "ms": kind = .milliseconds
        case "sample", "samples", "sample_index", "index", "n": kind = .index
        default: return nil
        }
        if kind != .index, let unit, !["s", "ms", "sec", "seconds"].contains(unit) {
            throw RecordingError.syntax(path: path, line: line, expected: "a time column in s or ms",
                                        found: column.rawText)
        }
        return kind
    }

    private enum CellProblem { case nonNumeric, nonFinite }

    /// The cell's number; `fail` builds the error (only called on failure, so the cell's text is
    /// only materialised then).
    @inline(__always)
    private static func parseNumber(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                                    fail: (CellProblem) -> RecordingError) throws -> Double {
        var start = range.lowerBound, end = range.upperBound
        while start < end, buffer[start] == 0x20 || buffer[start] == 0x09 { start += 1 }
        while end > start, buffer[end - 1] == 0x20 || buffer[end - 1] == 0x09 { end -= 1 }
        if end - start >= 2, buffer[start] == 0x22, buffer[end - 1] == 0x22 { start += 1; end -= 1 }
        guard start < end else { throw fail(.nonNumeric) }
        // Only digits, sign, point and exponent reach strtod (which would accept hex, "inf", "nan").
        for i in start..<end {
            switch buffer[i] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default:
                let word = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
                    .lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
                throw fail(["nan", "inf", "infinity"].contains(word) ? .nonFinite : .nonNumeric)
            }
        }
        var consumed = 0
        let value = buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { chars -> Double in
            let first = UnsafeMutablePointer(mutating: chars + start)
            var stop: UnsafeMutablePointer<CChar>?
            let parsed = strtod(first, &stop)
            consumed = stop.map { $0 - first } ?? 0
            return parsed
        }
        guard consumed == end - start else { throw fail(.nonNumeric) }
        guard value.isFinite else { throw fail(.nonFinite) }
        return value
    }

    /// A time column's rate, checked for uniform steps as rows arrive.
    private struct Time {
        var first: Double?
        var last = 0.0
        var step: Double?
        var count = 0

        mutating func add(_ t: Double, line: Int, path: String) throws {
            defer { last = t; count += 1 }
            guard count > 0 else { first = t; return }
            let found = t - last
            guard let step else {
                guard found > 0 else {
                    throw RecordingError.nonUniformTime(path: path, line: line, expectedStep: .nan, foundStep: found)
                }
                self.step = found
                return
            }
            if abs(found - step) > 0.01 * step {
                throw RecordingError.nonUniformTime(path: path, line: line, expectedStep: step, foundStep: found)
            }
        }

        /// Samples per second over the whole column, snapped to an integer within 1 ppm.
        var rate: Double? {
            guard let first, count >= 2, last > first else { return nil }
            let rate = Double(count - 1) / (last - first)
            return abs(rate - rate.rounded()) <= 1e-6 * rate ? rate.rounded() : rate
        }
    }
}

/// Splits a byte buffer into lines (dropping `\r` before `\n`) and lines into comma-separated
/// cells, honouring double quotes. The buffer ends with a NUL that is not part of any line.
private struct LineScanner {
    let buffer: UnsafeBufferPointer<UInt8>
    var position = 0
    var lineNumber = 0

    init(buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
        // Spreadsheet exports often start with a UTF-8 byte order mark; it is not part of a name.
        if buffer.count > 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { position = 3 }
    }

    var end: Int { buffer.count - 1 }

    struct Line {
        let buffer: UnsafeBufferPointer<UInt8>
        let range: Range<Int>
        let number: Int

        var first: UInt8? {
            var i = range.lowerBound
            while i < range.upperBound, buffer[i] == 0x20 || buffer[i] == 0x09 { i += 1 }
            return i < range.upperBound ? buffer[i] : nil
        }
        var isBlank: Bool { first == nil }

        func text(_ r: Range<Int>) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: buffer[r]), as: UTF8.self)
        }

        func cells() -> [Range<Int>] {
            var out: [Range<Int>] = []
            cells(into: &out)
            return out
        }

        /// Cell ranges (quotes included; the number parser and the name parser strip them).
        func cells(into out: inout [Range<Int>]) {
            out.removeAll(keepingCapacity: true)
            var start = range.lowerBound, i = start, quoted = false
            while i < range.upperBound {
                let c = buffer[i]
                if c == 0x22 { quoted.toggle() } else if c == 0x2C, !quoted { out.append(start..<i); start = i + 1 }
                i += 1
            }
            out.append(start..<range.upperBound)
        }

        /// `key=value` words of a comment line (keys lowercased), split at spaces, tabs, commas, semicolons.
        func commentProperties() -> [(String, String)] {
            let text = self.text(range).dropFirst()
            return text.split(whereSeparator: { " \t,;#".contains($0) }).compactMap { word in
                let parts = word.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                return (parts[0].lowercased(), String(parts[1]))
            }
        }
    }

    mutating func nextLine() -> Line? {
        guard position < end else { return nil }
        var i = position
        while i < end, buffer[i] != 0x0A { i += 1 }
        var stop = i
        if stop > position, buffer[stop - 1] == 0x0D { stop -= 1 }
        lineNumber += 1
        defer { position = i + 1 }
        return Line(buffer: buffer, range: position..<stop, number: lineNumber)
    }

    /// Line ends left (an upper bound on the rows still to come, plus one for an unterminated last line).
    func remainingLineCount() -> Int {
        var count = 1
        for i in position..<max(position, end) where buffer[i] == 0x0A { count += 1 }
        return count
    }
}
