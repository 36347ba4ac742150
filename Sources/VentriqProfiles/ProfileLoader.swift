import Foundation
import TOMLKit

extension FirmwareProfile {
    /// Reads and parses the profile at `url` (see `init(toml:source:)`); errors name the path.
    public static func load(contentsOf url: URL) throws(ProfileError) -> FirmwareProfile {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ProfileError(file: url.path, keyPath: "", message: "cannot read the profile: \(error.localizedDescription)")
        }
        return try FirmwareProfile(toml: text, source: url.path)
    }

    /// Parses a profile from TOML text; `source` names it in errors (a path or a label).
    ///
    /// Throws `ProfileError` for, in this order: TOML syntax (with line and column), unknown tables
    /// or keys (with a suggestion when one is close), values of the wrong type or an unknown
    /// `source.kind` / `source.format` / sink, and missing required keys (all of them at once).
    /// Value ranges and consistency are `validate(against:arenaBytes:)`'s job.
    public init(toml: String, source file: String) throws(ProfileError) {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: toml)
        } catch let error as TOMLParseError {
            throw ProfileError(file: file, keyPath: "", line: error.source.begin.line, column: error.source.begin.column,
                               message: "not valid TOML: \(error.description)")
        } catch {
            throw ProfileError(file: file, keyPath: "", message: "not valid TOML: \(error)")
        }
        self = try ProfileParser(file: file, root: root).parse()
    }
}

/// The schema: tables and keys, in the order errors are checked and documented.
enum ProfileSchema {
    static let tables: [(name: String, keys: [String])] = [
        ("device", ["name", "vendor", "model", "firmware"]),
        ("source", ["kind", "device", "format", "sample_rate_hz", "channels", "adc_bits", "gain_uv_per_lsb",
                    "period_frames", "buffer_frames"]),
        ("leads", ["channels"]),
        ("window", ["seconds", "hop_seconds"]),
        ("budgets", ["latency_ms", "memory_bytes", "ring_seconds"]),
        ("quality", ["gate"]),
        ("thresholds", []),
        ("output", ["sinks"]),
    ]

    /// Tables whose keys are free (disease names).
    static let openTables: Set<String> = ["thresholds"]

    /// `source` keys each kind does not use.
    static func unusedSourceKeys(for kind: FirmwareProfile.SourceKind) -> [String] {
        switch kind {
        case .alsa: []
        case .fd: ["device", "period_frames", "buffer_frames"]
        case .replay: ["device", "format", "sample_rate_hz", "channels", "adc_bits", "gain_uv_per_lsb",
                       "period_frames", "buffer_frames"]
        }
    }
}

/// One pass over the parsed TOML tree.
private struct ProfileParser {
    let file: String
    let root: TOMLTable

    func fail(_ keyPath: String, _ message: String) -> ProfileError {
        ProfileError(file: file, keyPath: keyPath, message: message)
    }

    func parse() throws(ProfileError) -> FirmwareProfile {
        try checkUnknownKeys()
        let device = try table("device"), source = try table("source"), leads = try table("leads")
        let window = try table("window"), budgets = try table("budgets"), quality = try table("quality")
        let thresholds = try table("thresholds"), output = try table("output")

        // Unconditionally required keys.
        var missing: [String] = []
        let name = try device.string("name")
        if name == nil { missing.append("device.name") }
        let kindName = try source.string("kind")
        if kindName == nil { missing.append("source.kind") }
        let seconds = try window.number("seconds")
        if seconds == nil { missing.append("window.seconds") }
        let hop = try window.number("hop_seconds")
        if hop == nil { missing.append("window.hop_seconds") }

        // Types of every other key, before reporting missing ones (a misspelt or mistyped key is
        // the likelier cause).
        let kind = try kindName.map { (raw) throws(ProfileError) in
            try enumValue(FirmwareProfile.SourceKind.self, raw, at: "source.kind")
        }
        let format = try source.string("format").map { (raw) throws(ProfileError) in
            try enumValue(FirmwareProfile.SampleFormat.self, raw, at: "source.format")
        }
        var src = FirmwareProfile.Source(
            kind: kind ?? .replay,
            device: try source.string("device"),
            format: format,
            sampleRateHz: try source.number("sample_rate_hz"),
            channels: try source.integer("channels"),
            adcBits: try source.integer("adc_bits"),
            gainMicrovoltsPerLSB: try source.number("gain_uv_per_lsb"),
            periodFrames: try source.integer("period_frames"),
            bufferFrames: try source.integer("buffer_frames")
        )
        let channelLeads = try leads.stringArray("channels")
        let profileDevice = FirmwareProfile.Device(
            name: name ?? "", vendor: try device.string("vendor"), model: try device.string("model"),
            firmware: try device.string("firmware"))
        let profileBudgets = FirmwareProfile.Budgets(
            latencyMilliseconds: try budgets.number("latency_ms"),
            memoryBytes: try budgets.integer("memory_bytes"),
            ringSeconds: try budgets.number("ring_seconds") ?? FirmwareProfile.Budgets.defaultRingSeconds)
        let profileQuality = FirmwareProfile.Quality(gate: try quality.bool("gate") ?? true)
        var profileThresholds: [String: Double] = [:]
        for key in thresholds.keys {
            profileThresholds[key] = try thresholds.number(key)
        }
        let sinks = try output.stringArray("sinks").map { (raw) throws(ProfileError) in try parseSinks(raw) }

        if !missing.isEmpty { throw missingError(missing, reason: nil) }
        guard let kind else { throw missingError(["source.kind"], reason: nil) }

        // Keys the kind requires.
        var needed: [String] = []
        switch kind {
        case .alsa:
            needed = ["device", "format", "sample_rate_hz", "channels", "gain_uv_per_lsb"]
        case .fd:
            needed = ["format", "sample_rate_hz", "channels"]
            if format?.isInteger ?? false { needed.append("gain_uv_per_lsb") }
        case .replay:
            break
        }
        missing = needed.filter { source.value($0) == nil }.map { "source.\($0)" }
        if kind != .replay, channelLeads == nil { missing.append("leads.channels") }
        if !missing.isEmpty {
            var reason = "required when source.kind = \"\(kind.rawValue)\""
            if kind == .fd, format?.isInteger ?? false, missing.contains("source.gain_uv_per_lsb") {
                reason += " (source.gain_uv_per_lsb: with the integer format \(format!.rawValue))"
            }
            throw missingError(missing, reason: reason)
        }

        // Keys the kind does not use: dropped, reported by validate as warnings.
        var ignored: [String] = []
        for key in ProfileSchema.unusedSourceKeys(for: kind) where source.value(key) != nil {
            ignored.append("source.\(key)")
            switch key {
            case "device": src.device = nil
            case "format": src.format = nil
            case "sample_rate_hz": src.sampleRateHz = nil
            case "channels": src.channels = nil
            case "adc_bits": src.adcBits = nil
            case "gain_uv_per_lsb": src.gainMicrovoltsPerLSB = nil
            case "period_frames": src.periodFrames = nil
            case "buffer_frames": src.bufferFrames = nil
            default: break
            }
        }

        return FirmwareProfile(
            file: file, device: profileDevice, source: src, channelLeads: channelLeads,
            window: FirmwareProfile.Window(seconds: seconds!, hopSeconds: hop!),
            budgets: profileBudgets, quality: profileQuality, thresholds: profileThresholds,
            output: FirmwareProfile.Output(sinks: sinks ?? [.stdout]), ignoredKeys: ignored)
    }

    // MARK: - Structure

    /// Unknown tables at the top level and unknown keys in each table, in schema order.
    func checkUnknownKeys() throws(ProfileError) {
        let known = ProfileSchema.tables.map(\.name)
        for key in root.keys where !known.contains(key) {
            let isTable = root[key]?.type == .table
            var message = isTable ? "unknown table" : "unknown key"
            if let hint = Suggestion.closest(to: key, among: known) {
                message += " (did you mean [\(hint)]?)"
            } else if let home = homeTable(of: key) {
                message += " (did you mean \(home).\(key)?)"
            } else {
                message += " (tables: \(known.map { "[\($0)]" }.joined(separator: ", ")))"
            }
            throw fail(key, message)
        }
        for (name, keys) in ProfileSchema.tables where !ProfileSchema.openTables.contains(name) {
            guard let value = root[name], let table = value.table else { continue }
            for key in table.keys where !keys.contains(key) {
                var message = table[key]?.type == .table ? "unknown table" : "unknown key"
                if let hint = Suggestion.closest(to: key, among: keys) {
                    message += " (did you mean \(hint)?)"
                } else if let home = homeTable(of: key), home != name {
                    message += " (did you mean \(home).\(key)?)"
                } else {
                    message += " (\(name) takes \(keys.joined(separator: ", ")))"
                }
                throw fail("\(name).\(key)", message)
            }
        }
    }

    /// The table whose schema has `key`, if any.
    func homeTable(of key: String) -> String? {
        ProfileSchema.tables.first { $0.keys.contains(key) }?.name
    }

    /// The named table (empty when absent); a value that is not a table is a type error.
    func table(_ name: String) throws(ProfileError) -> TableReader {
        guard let value = root[name] else { return TableReader(parser: self, path: name, table: nil) }
        guard let table = value.table else { throw fail(name, "expected a table, found \(Self.describe(value))") }
        return TableReader(parser: self, path: name, table: table)
    }

    func missingError(_ paths: [String], reason: String?) -> ProfileError {
        var message = paths.count == 1 ? "missing required key" : "missing required keys \(paths.joined(separator: ", "))"
        if let reason { message += " (\(reason))" }
        return fail(paths[0], message)
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_: E.Type, _ raw: String, at path: String) throws(ProfileError) -> E
    where E.RawValue == String {
        if let value = E(rawValue: raw) { return value }
        let names = E.allCases.map(\.rawValue)
        var message = "expected one of \(names.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(raw)\""
        if let hint = Suggestion.closest(to: raw, among: names) { message += " (did you mean \"\(hint)\"?)" }
        throw fail(path, message)
    }

    func parseSinks(_ raw: [String]) throws(ProfileError) -> [FirmwareProfile.Sink] {
        var sinks: [FirmwareProfile.Sink] = []
        for (index, entry) in raw.enumerated() {
            if entry == "stdout" {
                sinks.append(.stdout)
            } else if entry.hasPrefix("file:"), entry.count > "file:".count {
                sinks.append(.file(path: String(entry.dropFirst("file:".count))))
            } else {
                throw fail("output.sinks[\(index)]", "expected \"stdout\" or \"file:<path>\", found \"\(entry)\"")
            }
        }
        return sinks
    }

    // MARK: - Values

    /// A found value for messages: `"500" (a string)`, `8.5 (a floating-point number)`, `a table`.
    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return "\"\(value.string ?? "")\" (a string)"
        case .int: return "\(value.int ?? 0) (an integer)"
        case .double: return "\(value.double ?? 0) (a floating-point number)"
        case .bool: return "\(value.bool ?? false) (a boolean)"
        case .array:
            let items = value.array.map { Array($0).map { Self.brief($0) } } ?? []
            return "[\(items.joined(separator: ", "))] (an array)"
        case .table: return "a table"
        case .date, .time, .dateTime: return "\(value.debugDescription) (a \(value.type))"
        }
    }

    /// A value without its type, for array elements.
    static func brief(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: "\"\(value.string ?? "")\""
        case .int: "\(value.int ?? 0)"
        case .double: "\(value.double ?? 0)"
        case .bool: "\(value.bool ?? false)"
        case .array: "[...]"
        case .table: "{...}"
        case .date, .time, .dateTime: value.debugDescription
        }
    }
}

/// Typed reads of one table's keys; a wrong type names the key, the expected type and the value.
private struct TableReader {
    let parser: ProfileParser
    let path: String
    let table: TOMLTable?

    var keys: [String] { table?.keys ?? [] }

    func value(_ key: String) -> TOMLValueConvertible? { table?[key] }

    func mismatch(_ key: String, _ expected: String, _ value: TOMLValueConvertible) -> ProfileError {
        parser.fail("\(path).\(key)", "expected \(expected), found \(ProfileParser.describe(value))")
    }

    func string(_ key: String) throws(ProfileError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw mismatch(key, "a string", v) }
        return s
    }

    /// An integer or a floating-point number.
    func number(_ key: String) throws(ProfileError) -> Double? {
        guard let v = value(key) else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        throw mismatch(key, "a number", v)
    }

    func integer(_ key: String) throws(ProfileError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int else { throw mismatch(key, "an integer", v) }
        return i
    }

    func bool(_ key: String) throws(ProfileError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw mismatch(key, "a boolean (true or false)", v) }
        return b
    }

    func stringArray(_ key: String) throws(ProfileError) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let array = v.array else { throw mismatch(key, "an array of strings", v) }
        var strings: [String] = []
        for (index, element) in array.enumerated() {
            guard let s = element.string else {
                throw parser.fail("\(path).\(key)[\(index)]", "expected a string, found \(ProfileParser.describe(element))")
            }
            strings.append(s)
        }
        return strings
    }
}
