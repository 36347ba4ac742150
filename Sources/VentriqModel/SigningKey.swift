import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Ed25519 keys for signing int8 models (docs/FORMAT.md, "Signatures").
//
// Key files are two or three lines of text:
//
//     ventriq-ed25519-private-key-v1          ventriq-ed25519-public-key-v1
//     <base64 of the 32-byte seed>            <base64 of the 32-byte public key>
//                                             <optional one-line comment>
//
// A key's id is the first 16 lowercase hex digits of SHA-256 of the 32-byte public key; a signed
// model names the key that signed it by this id (`signing_key_id`).

/// Why a key file could not be read, parsed or written, or a key directory not loaded. Every case
/// names the file (or directory) as given and says what was wrong.
public enum SigningKeyError: Error, CustomStringConvertible, Equatable {
    /// No file at that path.
    case fileMissing(file: String)
    /// The file exists but cannot be read (permissions, a directory, too large...).
    case cannotRead(file: String, reason: String)
    /// The file is not UTF-8 text.
    case notText(file: String)
    /// The first line is not the expected format line; `found` quotes it (shortened).
    case wrongFirstLine(file: String, expected: String, found: String)
    /// A public key file was given where a private key was expected.
    case publicKeyWherePrivateExpected(file: String)
    /// A private key file was given where a public key was expected.
    case privateKeyWherePublicExpected(file: String)
    /// The file has the format line but no (or an empty) key line.
    case missingKeyLine(file: String)
    /// The key line (`line`, 1-based) is not base64.
    case badBase64(file: String, line: Int)
    /// The key line decodes to `found` bytes instead of `expected`.
    case wrongKeyLength(file: String, expected: Int, found: Int)
    /// Text after the last line the format allows (`line`, 1-based).
    case unexpectedLine(file: String, line: Int)
    /// `write` would replace an existing file and `overwrite` is false.
    case alreadyExists(file: String)
    /// Creating, writing, syncing or renaming a key file failed; `reason` is the system's message.
    case cannotWrite(file: String, reason: String)
    /// A trusted-keys directory cannot be listed.
    case unreadableDirectory(directory: String, reason: String)
    /// A trusted-keys directory holds no `*.pub` file.
    case noPublicKeys(directory: String)

    public var description: String {
        switch self {
        case .fileMissing(let file):
            return "\(file): no such key file"
        case .cannotRead(let file, let reason):
            return "\(file): cannot read the key file: \(reason)"
        case .notText(let file):
            return "\(file): not a Ventriq key file (not UTF-8 text)"
        case .wrongFirstLine(let file, let expected, let found):
            return "\(file): first line is \(found); expected \"\(expected)\" (a Ventriq key file made by `ventriq keygen`)"
        case .publicKeyWherePrivateExpected(let file):
            return "\(file): this is a public key (\(SigningKey.publicKeyFormatLine)); expected a private key (\(SigningKey.privateKeyFormatLine))"
        case .privateKeyWherePublicExpected(let file):
            return "\(file): this is a private key (\(SigningKey.privateKeyFormatLine)); expected a public key (\(SigningKey.publicKeyFormatLine)). Never distribute the private key"
        case .missingKeyLine(let file):
            return "\(file): no key on line 2; expected the base64 of the 32-byte key"
        case .badBase64(let file, let line):
            return "\(file): line \(line) is not valid base64; expected the base64 of the 32-byte key"
        case .wrongKeyLength(let file, let expected, let found):
            return "\(file): the key decodes to \(found) bytes; expected \(expected)"
        case .unexpectedLine(let file, let line):
            return "\(file): unexpected text on line \(line); expected nothing after the key\(line == 4 ? " and its comment" : "")"
        case .alreadyExists(let file):
            return "\(file): a file already exists there; refusing to replace it"
        case .cannotWrite(let file, let reason):
            return "\(file): cannot write the key file: \(reason)"
        case .unreadableDirectory(let directory, let reason):
            return "\(directory): cannot list the trusted-keys directory: \(reason)"
        case .noPublicKeys(let directory):
            return "\(directory): no *.pub files in the trusted-keys directory; expected at least one public key"
        }
    }
}

/// An Ed25519 public key that verifies model signatures, with its key id.
///
/// Equality and hashing are by the 32 key bytes (the comment is not part of the key).
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the Ed25519 public key (RFC 8032 encoding).
    public let rawRepresentation: [UInt8]
    /// First 16 lowercase hex digits of SHA-256 of `rawRepresentation`.
    public let id: String
    /// The key file's optional third line.
    public var comment: String?

    private let key: Curve25519.Signing.PublicKey

    /// A public key from its 32 bytes; throws `.wrongKeyLength` (file "(in memory)") otherwise.
    public init(rawRepresentation: [UInt8], comment: String? = nil) throws {
        try self.init(rawRepresentation: rawRepresentation, comment: comment, file: "(in memory)")
    }

    init(rawRepresentation: [UInt8], comment: String?, file: String) throws {
        guard rawRepresentation.count == SigningKey.keyByteCount else {
            throw SigningKeyError.wrongKeyLength(file: file, expected: SigningKey.keyByteCount, found: rawRepresentation.count)
        }
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)
        } catch {
            // swift-crypto only checks the length, which is checked above.
            throw SigningKeyError.wrongKeyLength(file: file, expected: SigningKey.keyByteCount, found: rawRepresentation.count)
        }
        self.rawRepresentation = rawRepresentation
        self.id = PublicKey.keyID(ofRawKey: rawRepresentation)
        self.comment = comment
    }

    init(_ key: Curve25519.Signing.PublicKey, comment: String? = nil) {
        self.key = key
        self.rawRepresentation = Array(key.rawRepresentation)
        self.id = PublicKey.keyID(ofRawKey: rawRepresentation)
        self.comment = comment
    }

    /// Reads a public key file (`ventriq-ed25519-public-key-v1`, base64 key, optional comment).
    public static func load(at url: URL) throws -> PublicKey {
        let file = url.path
        let parsed = try KeyFile.parse(try KeyFile.contents(of: url), expecting: .publicKey, file: file)
        return try PublicKey(rawRepresentation: parsed.key, comment: parsed.comment, file: file)
    }

    /// The key file's text: format line, base64 key, and the comment (if any) on a third line.
    public var fileText: String {
        var text = SigningKey.publicKeyFormatLine + "\n" + Data(rawRepresentation).base64EncodedString() + "\n"
        if let comment { text += KeyFile.oneLine(comment) + "\n" }
        return text
    }

    /// Writes `fileText` to `url` atomically, mode 0644; refuses to replace an existing file
    /// unless `overwrite`.
    public func write(to url: URL, overwrite: Bool = false) throws {
        try KeyFile.writeAtomically(Array(fileText.utf8), to: url, mode: 0o644, overwrite: overwrite)
    }

    /// Whether `signature` (64 bytes) is this key's Ed25519 signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }

    /// The key id of a raw public key: first 16 lowercase hex digits of its SHA-256.
    public static func keyID(ofRawKey raw: [UInt8]) -> String {
        String(hexString(SHA256.hash(data: raw)).prefix(16))
    }

    public static func == (left: PublicKey, right: PublicKey) -> Bool {
        left.rawRepresentation == right.rawRepresentation
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }

    public var description: String {
        "Ed25519 public key \(id)" + (comment.map { " (\($0))" } ?? "")
    }
}

/// An Ed25519 private key that signs models.
///
/// `description`, `debugDescription` and reflection show only the key id, never the secret.
public struct SigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// First line of a private key file.
    public static let privateKeyFormatLine = "ventriq-ed25519-private-key-v1"
    /// First line of a public key file.
    public static let publicKeyFormatLine = "ventriq-ed25519-public-key-v1"
    /// Bytes of a raw Ed25519 private key (the RFC 8032 seed) and of a public key.
    public static let keyByteCount = 32
    /// Bytes of an Ed25519 signature.
    public static let signatureByteCount = 64

    private let key: Curve25519.Signing.PrivateKey
    /// The matching public key.
    public let publicKey: PublicKey

    private init(_ key: Curve25519.Signing.PrivateKey) {
        self.key = key
        self.publicKey = PublicKey(key.publicKey)
    }

    /// A new random key (swift-crypto, from the system's secure random source).
    public static func generate() -> SigningKey { SigningKey(Curve25519.Signing.PrivateKey()) }

    /// A key from its 32-byte seed; throws `.wrongKeyLength` (file "(in memory)") otherwise.
    public init(rawRepresentation: [UInt8]) throws {
        try self.init(rawRepresentation: rawRepresentation, file: "(in memory)")
    }

    init(rawRepresentation: [UInt8], file: String) throws {
        guard rawRepresentation.count == SigningKey.keyByteCount else {
            throw SigningKeyError.wrongKeyLength(file: file, expected: SigningKey.keyByteCount, found: rawRepresentation.count)
        }
        do {
            self.init(try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation))
        } catch {
            throw SigningKeyError.wrongKeyLength(file: file, expected: SigningKey.keyByteCount, found: rawRepresentation.count)
        }
    }

    /// Reads a private key file (`ventriq-ed25519-private-key-v1`, base64 seed).
    public static func load(privateKeyAt url: URL) throws -> SigningKey {
        let file = url.path
        let parsed = try KeyFile.parse(try KeyFile.contents(of: url), expecting: .privateKey, file: file)
        return try SigningKey(rawRepresentation: parsed.key, file: file)
    }

    /// The 32-byte seed. Secret: keep it out of logs.
    public var rawRepresentation: [UInt8] { Array(key.rawRepresentation) }

    /// The key id (of the public key).
    public var id: String { publicKey.id }

    /// The Ed25519 signature (64 bytes) of `message`.
    public func signature(for message: [UInt8]) throws -> [UInt8] {
        Array(try key.signature(for: message))
    }

    /// Writes the private key to `privateURL` (mode 0600) and the public key to `publicURL`
    /// (mode 0644, with `comment` as its third line when given), each atomically (temporary file
    /// beside the target, fsync, rename or link, fsync of the directory).
    ///
    /// Unless `overwrite`, an existing file at either path is an error (`.alreadyExists`) and
    /// nothing is written; and if the public key then cannot be written, the new private key
    /// file is removed again. With `overwrite`, a failure writing the public key leaves the new
    /// private key in place (the old one is already replaced): write again.
    public func write(privateTo privateURL: URL, publicTo publicURL: URL, comment: String? = nil, overwrite: Bool = false) throws {
        let privatePath = privateURL.standardizedFileURL.path
        guard privatePath != publicURL.standardizedFileURL.path else {
            throw SigningKeyError.cannotWrite(file: privateURL.path, reason: "the private and the public key would be the same file")
        }
        if !overwrite {
            for url in [privateURL, publicURL] where KeyFile.exists(url.path) {
                throw SigningKeyError.alreadyExists(file: url.path)
            }
        }
        try KeyFile.writeAtomically(Array(privateFileText.utf8), to: privateURL, mode: 0o600, overwrite: overwrite)
        var publicKey = self.publicKey
        publicKey.comment = comment
        do {
            try publicKey.write(to: publicURL, overwrite: overwrite)
        } catch {
            if !overwrite { unlink(privateURL.path) }
            throw error
        }
    }

    /// The private key file's text.
    var privateFileText: String {
        SigningKey.privateKeyFormatLine + "\n" + Data(rawRepresentation).base64EncodedString() + "\n"
    }

    public var description: String { "Ed25519 signing key \(id)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
}

/// Reading, parsing and writing key files.
enum KeyFile {
    enum Kind { case privateKey, publicKey }

    /// Largest key file read; a key file is about 80 bytes plus the comment.
    static let maximumByteCount = 64 * 1024

    /// The whole file; `.fileMissing`, `.cannotRead`.
    static func contents(of url: URL) throws -> [UInt8] {
        let path = url.path
        // O_NONBLOCK: a FIFO must fail the regular-file check, not wait for a writer.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw SigningKeyError.fileMissing(file: path) }
            throw SigningKeyError.cannotRead(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SigningKeyError.cannotRead(file: path, reason: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw SigningKeyError.cannotRead(file: path, reason: "not a regular file")
        }
        guard Int(status.st_size) <= maximumByteCount else {
            throw SigningKeyError.cannotRead(
                file: path, reason: "\(status.st_size) bytes, more than a key file's \(maximumByteCount)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { posixRead(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SigningKeyError.cannotRead(file: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0 ..< count])
            guard bytes.count <= maximumByteCount else {
                throw SigningKeyError.cannotRead(file: path, reason: "more than a key file's \(maximumByteCount) bytes")
            }
        }
        return bytes
    }

    /// Checks the format line and decodes the key; the comment is the public key's third line.
    static func parse(_ bytes: [UInt8], expecting kind: Kind, file: String) throws -> (key: [UInt8], comment: String?) {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw SigningKeyError.notText(file: file) }
        // Lines end with \n or \r\n (split on scalars: "\r\n" is one Character); blank lines at
        // the end are ignored.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.last == "\r" ? line.dropLast() : line)
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }

        let (expected, other) = kind == .privateKey
            ? (SigningKey.privateKeyFormatLine, SigningKey.publicKeyFormatLine)
            : (SigningKey.publicKeyFormatLine, SigningKey.privateKeyFormatLine)
        guard let first = lines.first else {
            throw SigningKeyError.wrongFirstLine(file: file, expected: expected, found: "empty (the file is empty)")
        }
        if first != expected {
            if first == other {
                throw kind == .privateKey
                    ? SigningKeyError.publicKeyWherePrivateExpected(file: file)
                    : SigningKeyError.privateKeyWherePublicExpected(file: file)
            }
            throw SigningKeyError.wrongFirstLine(file: file, expected: expected, found: quoted(first))
        }
        guard lines.count >= 2, !lines[1].isEmpty else { throw SigningKeyError.missingKeyLine(file: file) }
        guard let key = Data(base64Encoded: lines[1]) else { throw SigningKeyError.badBase64(file: file, line: 2) }
        guard key.count == SigningKey.keyByteCount else {
            throw SigningKeyError.wrongKeyLength(file: file, expected: SigningKey.keyByteCount, found: key.count)
        }
        let allowed = kind == .privateKey ? 2 : 3
        guard lines.count <= allowed else { throw SigningKeyError.unexpectedLine(file: file, line: allowed + 1) }
        return (Array(key), lines.count == 3 ? lines[2] : nil)
    }

    /// `text` with line breaks replaced by spaces, so that a comment stays on one line.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    /// A line quoted for an error message, shortened to 60 characters.
    static func quoted(_ line: String) -> String {
        line.count > 60 ? "\"\(line.prefix(60))...\"" : "\"\(line)\""
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Writes `bytes` to a temporary file beside `url` created with `mode`, fsyncs it, then
    /// renames it over `url` (`overwrite`) or hard-links it to `url` (which fails if `url`
    /// exists) and removes the temporary name; finally fsyncs the directory.
    static func writeAtomically(_ bytes: [UInt8], to url: URL, mode: mode_t, overwrite: Bool) throws {
        do {
            try AtomicFile.write(to: url, mode: mode, existing: overwrite ? .replace : .refuse) { try $0.write(bytes) }
        } catch let failure as AtomicFile.Failure {
            if failure.targetExists { throw SigningKeyError.alreadyExists(file: url.path) }
            throw SigningKeyError.cannotWrite(file: url.path, reason: failure.reason)
        }
    }
}

/// `read(2)` under a name no member shadows.
private func posixRead(_ descriptor: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, bytes, count)
}

