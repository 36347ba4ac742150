import Foundation

/// The public keys whose model signatures the engine accepts, looked up by key id.
///
/// Two different keys could share an id (it is 64 bits of a hash, so a collision can be made on
/// purpose); `keys(withID:)` returns every one of them and verification accepts a signature that
/// any of them verifies, so a collision cannot hide a trusted key.
public struct TrustedKeys: Sendable, Equatable {
    /// Every distinct key, ordered by id, then by key bytes.
    public let keys: [PublicKey]
    private let byID: [String: [PublicKey]]

    /// The given keys; repeated keys (same bytes) are kept once (the first one's comment wins).
    public init(keys: [PublicKey]) {
        var seen: Set<PublicKey> = []
        var unique: [PublicKey] = []
        for key in keys where seen.insert(key).inserted { unique.append(key) }
        unique.sort { left, right in
            left.id != right.id ? left.id < right.id : left.rawRepresentation.lexicographicallyPrecedes(right.rawRepresentation)
        }
        self.keys = unique
        self.byID = Dictionary(grouping: unique, by: \.id)
    }

    /// Loads each public key file (`PublicKey.load(at:)`); the first bad file throws its error.
    public static func load(files: [URL]) throws -> TrustedKeys {
        TrustedKeys(keys: try files.map { try PublicKey.load(at: $0) })
    }

    /// Loads every `*.pub` file of `directory` (not recursively, hidden files skipped), in name
    /// order. Throws `.unreadableDirectory` when the directory cannot be listed,
    /// `.noPublicKeys` when it holds no `*.pub` file, and the key file's error (naming that
    /// file) for the first one that is not a valid public key.
    public static func load(directory: URL) throws -> TrustedKeys {
        let path = directory.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SigningKeyError.unreadableDirectory(directory: path, reason: "no such directory")
        }
        guard isDirectory.boolValue else {
            throw SigningKeyError.unreadableDirectory(directory: path, reason: "not a directory")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            let reason = underlying.map { String(cString: strerror(Int32($0.code))) } ?? error.localizedDescription
            throw SigningKeyError.unreadableDirectory(directory: path, reason: reason)
        }
        let files = names
            .filter { $0.hasSuffix(".pub") && !$0.hasPrefix(".") }
            .sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            .map { directory.appendingPathComponent($0) }
        guard !files.isEmpty else { throw SigningKeyError.noPublicKeys(directory: path) }
        return try load(files: files)
    }

    /// The keys with this id (usually one; empty when the id is not trusted).
    public func keys(withID id: String) -> [PublicKey] { byID[id] ?? [] }

    /// The first key with this id, or nil.
    public subscript(id: String) -> PublicKey? { byID[id]?.first }

    /// The distinct key ids, sorted.
    public var ids: [String] { Array(Set(keys.map(\.id))).sorted() }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// These keys and `other`'s.
    public func merging(_ other: TrustedKeys) -> TrustedKeys { TrustedKeys(keys: keys + other.keys) }

    public static func == (left: TrustedKeys, right: TrustedKeys) -> Bool { left.keys == right.keys }
}
