import Foundation

/// How results are written: JSON lines (one object per recording, for machines), CSV (one row
/// per recording, for spreadsheets) or text (a short block per recording, for people).
public enum ResultFormat: String, Sendable, CaseIterable {
    case jsonl, csv, text
}

public struct ResultWriter: Sendable {
    public let format: ResultFormat

    public init(format: ResultFormat) { self.format = format }

    /// The CSV header row for results of `model`'s targets and diseases (nil for JSON lines).
    public func header(targets: [String], diseases: [String]) -> String? {
        guard format == .csv else { return nil }
        var cols = ["record", "source", "model", "model_precision", "model_sha256", "windows"]
        for t in targets { cols += [t, "\(t)_unit", "\(t)_lo80", "\(t)_hi80", "\(t)_lo95", "\(t)_hi95"] }
        for d in diseases { cols += ["p_\(d)", "flag_\(d)"] }
        cols += ["flags", "quality"]
        return cols.joined(separator: ",")
    }

    /// One record's output (one line for jsonl and csv; several for text), without the final newline.
    public func line(_ result: ScoreResult) throws -> String {
        switch format {
        case .text:
            return Self.text(result)
        case .jsonl:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(result), as: UTF8.self)
        case .csv:
            var cells = [result.record, result.source, result.model.name, result.model.precision, result.model.sha256,
                         String(result.windows.count)]
            for e in result.estimates {
                cells += [format(e.value), e.unit, format(e.interval80[0]), format(e.interval80[1]),
                          format(e.interval95[0]), format(e.interval95[1])]
            }
            for r in result.risks { cells += [format(r.probability), r.flagged ? "1" : "0"] }
            cells.append(result.flags.joined(separator: ";"))
            cells.append(result.quality.filter { $0.status != "ok" }.map { "\($0.lead):\($0.status)" }.joined(separator: ";"))
            return cells.map(Self.csvEscape).joined(separator: ",")
        }
    }

    private func format(_ v: Double) -> String { String(format: "%.6g", v) }

    static func text(_ r: ScoreResult) -> String {
        func f(_ v: Double, _ decimals: Int = 2) -> String { String(format: "%.\(decimals)f", v) }
        var lines = ["\(r.record)  (\(r.source); model \(r.model.name) \(r.model.version) \(r.model.precision), sha256 \(r.model.sha256.prefix(12))...)"]
        for e in r.estimates {
            let name = e.name.padding(toLength: 9, withPad: " ", startingAt: 0)
            lines.append("  \(name) \(f(e.value)) \(e.unit)   80% [\(f(e.interval80[0])), \(f(e.interval80[1]))]"
                         + "   95% [\(f(e.interval95[0])), \(f(e.interval95[1]))]")
        }
        let risks = r.risks.map { "\($0.name) \(f($0.probability, 3))\($0.flagged ? " (flag)" : "")" }
        lines.append("  risk      " + risks.joined(separator: ", "))
        lines.append("  flags     " + (r.flags.isEmpty ? "none" : r.flags.joined(separator: ", ")))
        let problems = r.quality.filter { $0.status != "ok" }.map { "\($0.lead) \($0.status) in \($0.windowsWithProblems) window(s)" }
        let derived = r.quality.filter(\.derived).map(\.lead)
        lines.append("  quality   " + (problems.isEmpty ? "all leads ok" : problems.joined(separator: "; "))
                     + (derived.isEmpty ? "" : "; derived from I and II: " + derived.joined(separator: ", ")))
        let w = r.windows
        let resampled = w.resampled ? " (resampled from \(f(w.inputRateHz, 1)) Hz)" : ""
        lines.append("  windows   \(w.count) x \(f(w.seconds, 1)) s at \(f(w.modelRateHz, 0)) Hz\(resampled), "
                     + "\(w.samplesUnused) samples unused; \(w.aggregation)")
        return lines.joined(separator: "\n")
    }

    static func csvEscape(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Writes `contents` to `url` atomically (`AtomicFile`: temporary file beside it, fsync, rename).
public func writeFileAtomically(_ contents: String, to url: URL) throws {
    try AtomicFile.write(contents, to: url)
}
