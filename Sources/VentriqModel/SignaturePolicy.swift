/// How a runtime treats model signatures at load (docs/FORMAT.md, "Signatures").
public enum SignaturePolicy: Sendable {
    /// Verify against the trusted keys; refuse unsigned, tampered or untrusted files.
    case require(TrustedKeys)
    /// Verify when signed and refuse tampered files, but accept unsigned files and files signed by
    /// keys that are not trusted (the status says which; the caller warns).
    case allowUnsigned(TrustedKeys)
    /// Do not look at signatures (inspection and conversion tools).
    case unchecked
}

/// What loading established about a model's signature.
public enum SignatureStatus: Sendable, Equatable {
    /// Signed by a trusted key, content intact.
    case verified(VerifiedSignature)
    /// No signature (accepted under `.allowUnsigned`).
    case unsigned
    /// Signed, content intact, but by a key that is not trusted (accepted under `.allowUnsigned`).
    case untrusted(keyID: String)
    /// Not checked (`.unchecked`).
    case unchecked

    static func establish(_ file: SafeTensorsFile, policy: SignaturePolicy) throws -> SignatureStatus {
        switch policy {
        case .unchecked:
            return .unchecked
        case .require(let keys):
            return .verified(try ModelSignature.verify(file, trusting: keys))
        case .allowUnsigned(let keys):
            do {
                return .verified(try ModelSignature.verify(file, trusting: keys))
            } catch ModelSignatureError.unsigned {
                return .unsigned
            } catch ModelSignatureError.untrustedKey(_, let keyID, _) {
                return .untrusted(keyID: keyID)
            }
        }
    }

    /// A warning for the log when the model was accepted without a trusted signature.
    public func warning(for path: String) -> String? {
        switch self {
        case .verified, .unchecked: return nil
        case .unsigned: return "warning: \(path) is not signed; running it only because of --allow-unsigned"
        case .untrusted(let id):
            return "warning: \(path) is signed by key \(id), which is not trusted; running it only because of --allow-unsigned"
        }
    }
}
