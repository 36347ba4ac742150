/// A firmware profile that cannot be loaded: the file, the key path of the offending table or key
/// (e.g. "source.sample_rate_hz"; empty when the whole document is at fault), the line and
/// column where TOMLKit reports them (TOML syntax errors only: TOMLKit 0.6 does not expose the
/// source position of a parsed key) and what is wrong.
public struct ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var keyPath: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(file: String, keyPath: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.column = column
        self.message = message
    }

    /// "file:line:column: key.path: message" (the parts that are known).
    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// One problem `FirmwareProfile.validate(against:arenaBytes:)` found.
public struct ProfileIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable, Equatable, Comparable, CaseIterable {
        /// A fact worth printing (derived leads, the ADC's full-scale range).
        case info
        /// The profile works, but probably not as intended.
        case warning
        /// The profile cannot be used with this model.
        case error

        private var rank: Int {
            switch self {
            case .info: 0
            case .warning: 1
            case .error: 2
            }
        }

        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    public var severity: Severity
    /// The key the issue is about, e.g. "window.hop_seconds".
    public var keyPath: String
    public var message: String

    public init(_ severity: Severity, _ keyPath: String, _ message: String) {
        self.severity = severity
        self.keyPath = keyPath
        self.message = message
    }

    /// "error: window.hop_seconds: message".
    public var description: String { "\(severity.rawValue): \(keyPath): \(message)" }
}

extension Collection where Element == ProfileIssue {
    /// The issues of severity `.error`.
    public var errors: [ProfileIssue] { filter { $0.severity == .error } }
    /// The issues of severity `.warning`.
    public var warnings: [ProfileIssue] { filter { $0.severity == .warning } }
    /// True when some issue is an error (the profile cannot be used).
    public var hasErrors: Bool { contains { $0.severity == .error } }
}

/// "Did you mean ...?" for misspelt keys and values.
enum Suggestion {
    /// The candidate closest to `word` (case-insensitive optimal-string-alignment distance, at
    /// most 1 for short words and a third of the length otherwise, at most 3), else a candidate
    /// that `word` (3 characters or more) is a prefix of; nil when none is close.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let c = Array(candidate.lowercased())
            let d = distance(w, c)
            let limit = min(3, max(1, c.count / 3))
            if d <= limit, best.map({ d < $0.distance }) ?? true { best = (candidate, d) }
        }
        if let best { return best.name }
        if w.count >= 3 {
            return candidates.first { $0.lowercased().hasPrefix(word.lowercased()) }
        }
        return nil
    }

    /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0 ... a.count { d[i][0] = i }
        for j in 0 ... b.count { d[0][j] = j }
        for i in 1 ... a.count {
            for j in 1 ... b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
