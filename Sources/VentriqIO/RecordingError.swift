import Foundation

/// Why a recording could not be read. Every case names the file and, where it applies, the
/// 1-based line or the byte offset, and says what was expected; `description` is the message
/// for the user.
public enum RecordingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file (or directory) at `path`.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// `path` is not a directory (for `RecordingReader.recordings(in:)`).
    case notADirectory(path: String)
    /// The extension names no supported format.
    case unsupportedExtension(path: String, fileExtension: String)
    /// A text line does not parse: `expected` says what should be there, `found` what is.
    case syntax(path: String, line: Int, expected: String, found: String)
    /// A binary header does not parse at `byteOffset`.
    case invalidHeader(path: String, byteOffset: Int, expected: String, found: String)
    /// A valid feature of the format that this reader does not implement.
    case unsupported(path: String, line: Int?, feature: String)
    /// A WFDB header declares `declared` signal lines but has only `found`; `line` is where the
    /// next one should have been.
    case missingSignalLines(path: String, line: Int, declared: Int, found: Int)
    /// A WFDB signal line (at `line` of `header`) names a signal file that does not exist.
    case missingSignalFile(header: String, line: Int, signalFile: String)
    /// A WFDB signal line uses a storage format code this reader does not decode.
    case unknownFormat(path: String, line: Int, format: String, supported: [Int])
    /// Binary data ends at `byteOffset` (the file's size), but `expectedBytes` were needed from
    /// `dataStart` on; `what` says what those bytes hold.
    case truncated(path: String, byteOffset: Int, dataStart: Int, expectedBytes: Int, what: String)
    /// The 16-bit sum of a signal's samples differs from the header's checksum.
    case checksumMismatch(path: String, line: Int, channel: String, expected: Int, computed: Int)
    /// A channel's unit is not one of mV, uV/µV, V.
    case unknownUnit(path: String, line: Int?, channel: String, unit: String)
    /// A CSV cell is not a number.
    case nonNumericCell(path: String, line: Int, column: Int, columnName: String, text: String)
    /// A CSV cell is NaN or infinite (or overflows a Double).
    case nonFiniteCell(path: String, line: Int, column: Int, columnName: String, text: String)
    /// A CSV row has a different number of cells than the header row.
    case raggedRow(path: String, line: Int, expectedColumns: Int, foundColumns: Int)
    /// The file has no sampling rate and none was given; `remedy` says how to give one.
    case missingSamplingRate(path: String, remedy: String)
    /// A sampling rate (from the file or options) is not a positive finite number.
    case invalidSamplingRate(path: String, line: Int?, text: String)
    /// A CSV time column whose step changes at `line`.
    case nonUniformTime(path: String, line: Int, expectedStep: Double, foundStep: Double)
    /// The time column and another source disagree about the sampling rate.
    case conflictingSamplingRate(path: String, timeColumnHz: Double, statedHz: Double, statedBy: String)
    /// The file holds no samples (or no channels) where some are required.
    case noSamples(path: String, detail: String)
    /// An NPY array whose element type is not supported.
    case unsupportedDType(path: String, dtype: String, supported: [String])
    /// The lead names given do not match the array's lead dimension.
    case leadCountMismatch(path: String, leadsInFile: Int, namesGiven: Int)
    /// WFDB signals sharing one file disagree on something that must be shared (format, offset).
    case inconsistentSignalFile(path: String, line: Int, signalFile: String, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .notADirectory(let path):
            return "\(path): not a directory"
        case .unsupportedExtension(let path, let ext):
            let shown = ext.isEmpty ? "no extension" : "extension '.\(ext)'"
            return "\(path): \(shown) is not a recording format; expected .hea (WFDB header, or a .dat "
                + "or extension-less path with a .hea beside it), .csv or .npy"
        case .syntax(let path, let line, let expected, let found):
            return "\(path): line \(line): expected \(expected), found '\(found)'"
        case .invalidHeader(let path, let offset, let expected, let found):
            return "\(path): byte offset \(offset): expected \(expected), found \(found)"
        case .unsupported(let path, let line, let feature):
            return "\(path)\(Self.at(line)): not supported: \(feature)"
        case .missingSignalLines(let path, let line, let declared, let found):
            return "\(path): line \(line): expected signal line \(found + 1) of \(declared) declared on the "
                + "record line, found end of file (the header has only \(found))"
        case .missingSignalFile(let header, let line, let signalFile):
            return "\(header): line \(line): signal file '\(signalFile)' does not exist"
        case .unknownFormat(let path, let line, let format, let supported):
            return "\(path): line \(line): unknown signal format '\(format)'; supported formats: "
                + supported.map(String.init).joined(separator: ", ")
        case .truncated(let path, let offset, let start, let expected, let what):
            let (end, overflow) = start.addingReportingOverflow(expected)
            return "\(path): data ends at byte offset \(offset), but \(what) needs \(expected) bytes from byte "
                + "offset \(start)" + (overflow ? "" : " (through byte offset \(end))")
        case .checksumMismatch(let path, let line, let channel, let expected, let computed):
            return "\(path): line \(line): checksum mismatch for signal '\(channel)': header says \(expected), "
                + "samples sum to \(computed) (mod 65536)"
        case .unknownUnit(let path, let line, let channel, let unit):
            return "\(path)\(Self.at(line)): unknown unit '\(unit)' for channel '\(channel)'; expected mV, uV "
                + "(or µV) or V"
        case .nonNumericCell(let path, let line, let column, let name, let text):
            return "\(path): line \(line), column \(column) ('\(name)'): expected a number, found '\(text)'"
        case .nonFiniteCell(let path, let line, let column, let name, let text):
            return "\(path): line \(line), column \(column) ('\(name)'): expected a finite number, found '\(text)'"
        case .raggedRow(let path, let line, let expected, let found):
            return "\(path): line \(line): expected \(expected) cells (as in the header row), found \(found)"
        case .missingSamplingRate(let path, let remedy):
            return "\(path): sampling rate unknown: \(remedy)"
        case .invalidSamplingRate(let path, let line, let text):
            return "\(path)\(Self.at(line)): expected a positive sampling rate in Hz, found '\(text)'"
        case .nonUniformTime(let path, let line, let expected, let found):
            let step = expected.isNaN ? "a positive step" : "a step of \(expected) s"
            return "\(path): line \(line): time column is not uniform: expected \(step), found a step of \(found) s"
        case .conflictingSamplingRate(let path, let timeHz, let statedHz, let statedBy):
            return "\(path): the time column implies \(timeHz) Hz but \(statedBy) says \(statedHz) Hz"
        case .noSamples(let path, let detail):
            return "\(path): no samples: \(detail)"
        case .unsupportedDType(let path, let dtype, let supported):
            return "\(path): unsupported NPY dtype '\(dtype)'; supported: " + supported.joined(separator: ", ")
        case .leadCountMismatch(let path, let leads, let names):
            return "\(path): the array has \(leads) leads but \(names) lead names were given"
        case .inconsistentSignalFile(let path, let line, let file, let detail):
            return "\(path): line \(line): signals stored in '\(file)' \(detail)"
        }
    }

    private static func at(_ line: Int?) -> String {
        line.map { ": line \($0)" } ?? ""
    }
}
