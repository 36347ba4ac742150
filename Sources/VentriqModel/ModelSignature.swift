import Crypto
import Foundation

/// Why a model's signature was refused. Every case names the model file.
public enum ModelSignatureError: Error, CustomStringConvertible, Equatable {
    /// The model has none of the signature fields.
    case unsigned(file: String)
    /// The content's SHA-256 is not the one the model was signed with: tensors or metadata
    /// changed after signing. Both digests in lowercase hex.
    case digestMismatch(file: String, stored: String, computed: String)
    /// The signing key is not among the trusted keys (`trusted`: their ids, sorted).
    case untrustedKey(file: String, keyID: String, trusted: [String])
    /// The signature does not verify with the trusted key of that id.
    case badSignature(file: String, keyID: String)
    /// A signature field is missing (while others are present) or unreadable.
    case malformedSignature(file: String, field: String, problem: String)

    public var description: String {
        switch self {
        case .unsigned(let file):
            return "\(file): the model is not signed (no \(ModelSignature.contentDigestKey), \(ModelSignature.signatureKey) or \(ModelSignature.keyIDKey) in __metadata__); sign it with `ventriq-quantize --sign KEY` or pass --allow-unsigned"
        case .digestMismatch(let file, let stored, let computed):
            return "\(file): content SHA-256 is \(computed) but the model was signed with content \(stored): tensors or metadata were changed after signing"
        case .untrustedKey(let file, let keyID, let trusted):
            let list = trusted.isEmpty ? "no trusted keys" : "trusted keys: " + trusted.joined(separator: ", ")
            return "\(file): signed with key \(keyID), which is not trusted (\(list))"
        case .badSignature(let file, let keyID):
            return "\(file): the signature does not verify with trusted key \(keyID): forged, or signed by another key that claims this id"
        case .malformedSignature(let file, let field, let problem):
            return "\(file): signature field \"\(field)\" in __metadata__ \(problem)"
        }
    }
}

/// A signature that verified: which trusted key made it and the content digest it covers.
public struct VerifiedSignature: Sendable, Equatable {
    /// Id of the signing key.
    public let keyID: String
    /// Lowercase hex SHA-256 of the canonical content (`ModelSignature.contentDigest`).
    public let contentSHA256: String
    /// The trusted key that verified it.
    public let key: PublicKey
}

/// The three metadata fields a signed model carries.
public struct SignatureFields: Sendable, Equatable {
    /// Lowercase hex SHA-256 of the canonical content (64 digits).
    public var contentSHA256: String
    /// Base64 of the 64-byte Ed25519 signature of the 32 digest bytes.
    public var signature: String
    /// Id of the signing key (16 lowercase hex digits).
    public var keyID: String

    /// As `__metadata__` entries.
    public var metadata: [String: String] {
        [ModelSignature.contentDigestKey: contentSHA256, ModelSignature.signatureKey: signature, ModelSignature.keyIDKey: keyID]
    }
}

/// Content digest, signing and verification of model files (docs/FORMAT.md, "Signatures").
///
/// The digest is SHA-256 of a canonical byte stream built from the metadata (less the signature
/// fields) and the tensors (name, dtype, shape, bytes), so it does not depend on how the header
/// is formatted (spacing, key order, padding) or where the tensors sit in the data section:
///
///     "ventriq-model-content-v1\n"
///     u64 M; M x (u64 len, key bytes, u64 len, value bytes)        metadata, keys in UTF-8 byte order
///     u64 T; T x (u64 len, name bytes, u64 len, dtype bytes,        tensors, names in UTF-8 byte order
///                 u64 rank, rank x u64 dim, u64 len, data bytes)
///
/// All integers are unsigned 64-bit little-endian; strings are their UTF-8 bytes. The counts M
/// and T make the stream decodable, hence the digest unambiguous.
public enum ModelSignature {
    /// First bytes of the canonical stream.
    public static let domain = "ventriq-model-content-v1\n"
    /// Metadata key of the content digest (lowercase hex).
    public static let contentDigestKey = "content_sha256"
    /// Metadata key of the signature (base64).
    public static let signatureKey = "signature"
    /// Metadata key of the signing key's id.
    public static let keyIDKey = "signing_key_id"
    /// The signature fields, which the digest leaves out.
    public static let fieldKeys: [String] = [contentDigestKey, signatureKey, keyIDKey]

    // MARK: Digest

    /// SHA-256 (32 bytes) of the canonical content of `file`.
    public static func contentDigest(of file: SafeTensorsFile) -> [UInt8] {
        digest(metadata: file.metadata, tensors: file.tensors) { tensor, body in
            do {
                try file.withUnsafeBytes(of: tensor.name, body)
            } catch {
                preconditionFailure("tensor \"\(tensor.name)\" listed by the file but not found: \(error)")
            }
        }
    }

    /// SHA-256 of the canonical content the writer would write, so that a model can be signed
    /// before it is written. Equals `contentDigest(of:)` of the written file.
    ///
    /// The writer does not expose its tensors, so this serializes it in memory and parses the
    /// result (a copy of the tensor data for the duration of the call).
    public static func contentDigest(of writer: SafeTensorsWriter) throws -> [UInt8] {
        let bytes = try writer.serialized()
        return try bytes.withUnsafeBytes { buffer in
            let header = try SafeTensorsHeader.parse(buffer, file: "(in memory)")
            return digest(metadata: header.metadata, tensors: header.tensors) { tensor, body in
                body(UnsafeRawBufferPointer(rebasing: buffer[tensor.byteRange]))
            }
        }
    }

    /// Lowercase hex of `contentDigest(of:)`.
    public static func contentSHA256(of file: SafeTensorsFile) -> String { hexString(contentDigest(of: file)) }

    private static func digest(
        metadata: [String: String], tensors: [TensorInfo],
        bytes: (TensorInfo, (UnsafeRawBufferPointer) -> Void) -> Void
    ) -> [UInt8] {
        var hasher = SHA256()
        func number(_ value: Int) {
            withUnsafeBytes(of: UInt64(value).littleEndian) { hasher.update(bufferPointer: $0) }
        }
        func string(_ value: String) {
            let utf8 = Array(value.utf8)
            number(utf8.count)
            hasher.update(data: utf8)
        }
        hasher.update(data: Array(domain.utf8))

        let keys = metadata.keys.filter { !fieldKeys.contains($0) }.sorted(by: utf8Precedes)
        number(keys.count)
        for key in keys {
            string(key)
            string(metadata[key]!)
        }

        let ordered = tensors.sorted { utf8Precedes($0.name, $1.name) }
        number(ordered.count)
        for tensor in ordered {
            string(tensor.name)
            string(tensor.dtype.rawValue)
            number(tensor.shape.count)
            for dimension in tensor.shape { number(dimension) }
            number(tensor.byteRange.count)
            bytes(tensor) { hasher.update(bufferPointer: $0) }
        }
        return Array(hasher.finalize())
    }

    private static func utf8Precedes(_ left: String, _ right: String) -> Bool {
        left.utf8.lexicographicallyPrecedes(right.utf8)
    }

    // MARK: Signing

    /// The signature fields for a 32-byte content digest signed with `key`.
    public static func signatureFields(forDigest digest: [UInt8], signedWith key: SigningKey) throws -> SignatureFields {
        precondition(digest.count == 32, "a SHA-256 content digest has 32 bytes, not \(digest.count)")
        let signature = try key.signature(for: digest)
        return SignatureFields(
            contentSHA256: hexString(digest), signature: Data(signature).base64EncodedString(), keyID: key.id)
    }

    /// Signs the writer's content with `key`: sets `content_sha256`, `signature` and
    /// `signing_key_id` in its metadata (replacing an earlier signature) and returns them.
    @discardableResult
    public static func sign(writer: inout SafeTensorsWriter, with key: SigningKey) throws -> SignatureFields {
        let fields = try signatureFields(forDigest: try contentDigest(of: writer), signedWith: key)
        writer.metadata.merge(fields.metadata) { _, new in new }
        return fields
    }

    /// The model's signature fields without checking them; nil when it has none of them.
    public static func storedFields(of file: SafeTensorsFile) -> [String: String]? {
        let present = file.metadata.filter { fieldKeys.contains($0.key) }
        return present.isEmpty ? nil : present
    }

    // MARK: Verification

    /// Verifies `file`'s signature against `keys`, in this order:
    /// 1. none of the three fields: `.unsigned`; some but not all, or one unreadable
    ///    (`content_sha256` not 64 lowercase hex digits, `signing_key_id` not 16, `signature`
    ///    not base64 of 64 bytes): `.malformedSignature`;
    /// 2. the recomputed content digest differs from `content_sha256`: `.digestMismatch`;
    /// 3. no trusted key has the id `signing_key_id`: `.untrustedKey`;
    /// 4. the Ed25519 signature of the 32 digest bytes verifies with no trusted key of that id:
    ///    `.badSignature`.
    public static func verify(_ file: SafeTensorsFile, trusting keys: TrustedKeys) throws -> VerifiedSignature {
        let path = file.url.path
        let metadata = file.metadata
        guard fieldKeys.contains(where: { metadata[$0] != nil }) else { throw ModelSignatureError.unsigned(file: path) }
        for key in fieldKeys where metadata[key] == nil {
            let present = fieldKeys.filter { metadata[$0] != nil }.joined(separator: " and ")
            throw ModelSignatureError.malformedSignature(
                file: path, field: key, problem: "is missing; expected all three signature fields (found only \(present))")
        }
        let stored = metadata[contentDigestKey]!, keyID = metadata[keyIDKey]!, encoded = metadata[signatureKey]!
        guard isLowercaseHex(stored, count: 64) else {
            throw ModelSignatureError.malformedSignature(
                file: path, field: contentDigestKey, problem: "is \(quoted(stored)); expected 64 lowercase hexadecimal digits")
        }
        guard isLowercaseHex(keyID, count: 16) else {
            throw ModelSignatureError.malformedSignature(
                file: path, field: keyIDKey, problem: "is \(quoted(keyID)); expected 16 lowercase hexadecimal digits")
        }
        guard let signature = Data(base64Encoded: encoded) else {
            throw ModelSignatureError.malformedSignature(
                file: path, field: signatureKey, problem: "is not base64 (\(quoted(encoded))); expected the base64 of a 64-byte Ed25519 signature")
        }
        guard signature.count == SigningKey.signatureByteCount else {
            throw ModelSignatureError.malformedSignature(
                file: path, field: signatureKey, problem: "decodes to \(signature.count) bytes; expected a 64-byte Ed25519 signature")
        }

        let digest = contentDigest(of: file)
        let computed = hexString(digest)
        guard computed == stored else {
            throw ModelSignatureError.digestMismatch(file: path, stored: stored, computed: computed)
        }
        let candidates = keys.keys(withID: keyID)
        guard !candidates.isEmpty else {
            throw ModelSignatureError.untrustedKey(file: path, keyID: keyID, trusted: keys.ids)
        }
        guard let key = candidates.first(where: { $0.isValidSignature(Array(signature), for: digest) }) else {
            throw ModelSignatureError.badSignature(file: path, keyID: keyID)
        }
        return VerifiedSignature(keyID: keyID, contentSHA256: computed, key: key)
    }

    private static func isLowercaseHex(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { (0x30 ... 0x39).contains($0) || (0x61 ... 0x66).contains($0) }
    }

    private static func quoted(_ text: String) -> String {
        text.count > 80 ? "\"\(text.prefix(80))...\"" : "\"\(text)\""
    }
}

extension SafeTensorsWriter {
    /// `ModelSignature.contentDigest(of: self)`.
    public func contentDigest() throws -> [UInt8] { try ModelSignature.contentDigest(of: self) }

    /// `ModelSignature.sign(writer: &self, with: key)`.
    @discardableResult
    public mutating func sign(with key: SigningKey) throws -> SignatureFields {
        try ModelSignature.sign(writer: &self, with: key)
    }
}
