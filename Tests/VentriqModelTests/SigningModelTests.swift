import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

/// Content digest, signing and verification of model files.
@Suite struct SigningModelTests {
    // MARK: Sign and verify

    @Test func signedModelVerifies() throws {
        let key = SigningKey.generate()
        var writer = try tinyModel()
        let digest = try writer.contentDigest()
        let fields = try ModelSignature.sign(writer: &writer, with: key)
        #expect(fields.keyID == key.id)
        #expect(fields.contentSHA256 == hex(digest))
        #expect(Data(base64Encoded: fields.signature)?.count == 64)
        #expect(writer.metadata["content_sha256"] == fields.contentSHA256)
        #expect(writer.metadata["signature"] == fields.signature)
        #expect(writer.metadata["signing_key_id"] == key.id)
        // The signature fields are not part of the content.
        #expect(try writer.contentDigest() == digest)

        let url = try temporaryModelURL()
        try writer.write(to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(ModelSignature.contentDigest(of: file) == digest)
        #expect(ModelSignature.contentSHA256(of: file) == fields.contentSHA256)
        #expect(ModelSignature.storedFields(of: file) == fields.metadata)

        let other = SigningKey.generate()
        let verified = try ModelSignature.verify(file, trusting: TrustedKeys(keys: [other.publicKey, key.publicKey]))
        #expect(verified.keyID == key.id && verified.contentSHA256 == fields.contentSHA256 && verified.key == key.publicKey)

        // Trust loaded from a key directory, as the engine does.
        let keys = try TestEnvironment.makeTemporaryDirectory("ventriq-trusted")
        try key.publicKey.write(to: keys.appendingPathComponent("release.pub"))
        #expect(try ModelSignature.verify(file, trusting: TrustedKeys.load(directory: keys)).keyID == key.id)
    }

    @Test func resigningReplacesTheSignature() throws {
        let first = SigningKey.generate(), second = SigningKey.generate()
        var writer = try tinyModel()
        let firstFields = try writer.sign(with: first)
        let secondFields = try writer.sign(with: second)
        #expect(secondFields.contentSHA256 == firstFields.contentSHA256)
        #expect(secondFields.keyID == second.id && writer.metadata["signing_key_id"] == second.id)
        let file = try written(writer)
        #expect(try ModelSignature.verify(file, trusting: TrustedKeys(keys: [second.publicKey])).keyID == second.id)
        #expect(throws: ModelSignatureError.untrustedKey(file: file.url.path, keyID: second.id, trusted: [first.id])) {
            try ModelSignature.verify(file, trusting: TrustedKeys(keys: [first.publicKey]))
        }
    }

    /// Signing from a digest (what a quantizer that streams its output would do) gives fields
    /// that verify like `sign(writer:with:)`'s.
    @Test func signingAGivenDigest() throws {
        let key = SigningKey.generate()
        var writer = try tinyModel()
        let fields = try ModelSignature.signatureFields(forDigest: try writer.contentDigest(), signedWith: key)
        writer.metadata.merge(fields.metadata) { _, new in new }
        let file = try written(writer)
        #expect(try ModelSignature.verify(file, trusting: TrustedKeys(keys: [key.publicKey])).contentSHA256 == fields.contentSHA256)
    }

    // MARK: Refusals

    @Test func unsignedModel() throws {
        let file = try written(try tinyModel())
        let error = ModelSignatureError.unsigned(file: file.url.path)
        #expect(throws: error) { try ModelSignature.verify(file, trusting: TrustedKeys(keys: [SigningKey.generate().publicKey])) }
        #expect(error.description.hasPrefix("\(file.url.path): the model is not signed"))
        #expect(error.description.contains("--allow-unsigned"))
        #expect(ModelSignature.storedFields(of: file) == nil)
    }

    /// One byte changed in any tensor of the written file: the digest no longer matches.
    @Test func tamperedTensorByteIsRefused() throws {
        let key = SigningKey.generate()
        let trusted = TrustedKeys(keys: [key.publicKey])
        let (signed, fields) = try signedFile(key)
        let original = Array(try Data(contentsOf: signed.url))
        #expect(signed.tensors.count == 4)
        for tensor in signed.tensors {
            for position in [tensor.byteRange.lowerBound, tensor.byteRange.upperBound - 1] {
                var bytes = original
                bytes[position] ^= 0x01
                let tampered = try SafeTensorsFile(contentsOf: try writeTemporaryFile(bytes))
                let computed = ModelSignature.contentSHA256(of: tampered)
                #expect(computed != fields.contentSHA256)
                let error = ModelSignatureError.digestMismatch(
                    file: tampered.url.path, stored: fields.contentSHA256, computed: computed)
                #expect(throws: error, "\(tensor.name) byte \(position)") { try ModelSignature.verify(tampered, trusting: trusted) }
                #expect(error.description.contains("changed after signing"))
            }
        }
    }

    @Test func tamperedMetadataIsRefused() throws {
        let key = SigningKey.generate()
        let trusted = TrustedKeys(keys: [key.publicKey])
        let (signed, fields) = try signedFile(key)
        let original = Array(try Data(contentsOf: signed.url))

        // Same-length edits in the header text, so the file stays valid.
        for (from, to) in [(#"\"depth\":1"#, #"\"depth\":2"#), ("ventriq-int8", "ventriq-int9"), ("\"format\"", "\"formaT\"")] {
            let bytes = try replacing(from, with: to, in: original)
            let tampered = try SafeTensorsFile(contentsOf: try writeTemporaryFile(bytes))
            #expect(tampered.metadata != signed.metadata)
            #expect(throws: ModelSignatureError.digestMismatch(
                file: tampered.url.path, stored: fields.contentSHA256, computed: ModelSignature.contentSHA256(of: tampered)), "\(to)") {
                try ModelSignature.verify(tampered, trusting: trusted)
            }
        }

        // Metadata added, or a tensor removed, keeping the signature fields.
        var added = try tinyModel()
        added.metadata.merge(fields.metadata) { _, new in new }
        added.metadata["allow_unsigned"] = "true"
        var removed = SafeTensorsWriter(metadata: signed.metadata)
        for tensor in signed.tensors where tensor.name != "pos_embed" {
            try removed.add(tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                            bytes: try signed.withUnsafeBytes(of: tensor.name) { Array($0) })
        }
        for writer in [added, removed] {
            let file = try written(writer)
            guard case .digestMismatch(_, let stored, _)? = verificationError(file, trusted) else {
                Issue.record("expected digestMismatch, got \(String(describing: verificationError(file, trusted)))")
                continue
            }
            #expect(stored == fields.contentSHA256)
        }
    }

    /// A model modified and re-signed with a key that is not trusted.
    @Test func untrustedKeyIsRefused() throws {
        let key = SigningKey.generate(), attacker = SigningKey.generate()
        var writer = try tinyModel()
        try writer.sign(with: key)
        try writer.add("backdoor", shape: [1], floats: [1])
        try writer.sign(with: attacker)
        let file = try written(writer)
        let error = ModelSignatureError.untrustedKey(file: file.url.path, keyID: attacker.id, trusted: [key.id])
        #expect(throws: error) { try ModelSignature.verify(file, trusting: TrustedKeys(keys: [key.publicKey])) }
        #expect(error.description == "\(file.url.path): signed with key \(attacker.id), which is not trusted (trusted keys: \(key.id))")
        #expect(throws: ModelSignatureError.untrustedKey(file: file.url.path, keyID: attacker.id, trusted: [])) {
            try ModelSignature.verify(file, trusting: TrustedKeys(keys: []))
        }
    }

    /// A signature made by another key (or by the trusted key over other content) under the
    /// trusted key's id.
    @Test func forgedSignatureIsRefused() throws {
        let key = SigningKey.generate(), attacker = SigningKey.generate()
        let trusted = TrustedKeys(keys: [key.publicKey])
        var writer = try tinyModel()
        let digest = try writer.contentDigest()
        try writer.sign(with: key)

        var forged = writer
        forged.metadata["signature"] = Data(try attacker.signature(for: digest)).base64EncodedString()
        let forgedFile = try written(forged)
        let error = ModelSignatureError.badSignature(file: forgedFile.url.path, keyID: key.id)
        #expect(throws: error) { try ModelSignature.verify(forgedFile, trusting: trusted) }
        #expect(error.description.hasPrefix("\(forgedFile.url.path): the signature does not verify with trusted key \(key.id)"))

        // The trusted key's genuine signature of another model, replayed.
        var otherModel = try tinyModel()
        try otherModel.add("extra", shape: [1], floats: [0])
        let replayed = try ModelSignature.signatureFields(forDigest: try otherModel.contentDigest(), signedWith: key)
        var replay = writer
        replay.metadata["signature"] = replayed.signature
        let replayFile = try written(replay)
        #expect(throws: ModelSignatureError.badSignature(file: replayFile.url.path, keyID: key.id)) {
            try ModelSignature.verify(replayFile, trusting: trusted)
        }

        // One bit of the genuine signature flipped.
        var signature = Array(Data(base64Encoded: writer.metadata["signature"]!)!)
        signature[63] ^= 0x80
        var flipped = writer
        flipped.metadata["signature"] = Data(signature).base64EncodedString()
        let flippedFile = try written(flipped)
        #expect(throws: ModelSignatureError.badSignature(file: flippedFile.url.path, keyID: key.id)) {
            try ModelSignature.verify(flippedFile, trusting: trusted)
        }
    }

    @Test func malformedSignatureFields() throws {
        let key = SigningKey.generate()
        let trusted = TrustedKeys(keys: [key.publicKey])
        var writer = try tinyModel()
        let fields = try writer.sign(with: key)

        func check(_ change: (inout [String: String]) -> Void, field: String, problem: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var edited = writer
            change(&edited.metadata)
            let file = try written(edited)
            let error = ModelSignatureError.malformedSignature(file: file.url.path, field: field, problem: problem)
            #expect(throws: error, sourceLocation: sourceLocation) { try ModelSignature.verify(file, trusting: trusted) }
            #expect(error.description.hasPrefix("\(file.url.path): signature field \"\(field)\" in __metadata__ "))
        }
        try check({ $0["signature"] = nil }, field: "signature",
                  problem: "is missing; expected all three signature fields (found only content_sha256 and signing_key_id)")
        try check({ $0["content_sha256"] = nil; $0["signing_key_id"] = nil }, field: "content_sha256",
                  problem: "is missing; expected all three signature fields (found only signature)")
        try check({ $0["content_sha256"] = fields.contentSHA256.uppercased() }, field: "content_sha256",
                  problem: "is \"\(fields.contentSHA256.uppercased())\"; expected 64 lowercase hexadecimal digits")
        try check({ $0["content_sha256"] = String(fields.contentSHA256.dropLast()) }, field: "content_sha256",
                  problem: "is \"\(fields.contentSHA256.dropLast())\"; expected 64 lowercase hexadecimal digits")
        try check({ $0["signing_key_id"] = "key-1" }, field: "signing_key_id",
                  problem: "is \"key-1\"; expected 16 lowercase hexadecimal digits")
        try check({ $0["signature"] = "not*base64" }, field: "signature",
                  problem: "is not base64 (\"not*base64\"); expected the base64 of a 64-byte Ed25519 signature")
        try check({ $0["signature"] = Data(count: 63).base64EncodedString() }, field: "signature",
                  problem: "decodes to 63 bytes; expected a 64-byte Ed25519 signature")
    }

    // MARK: The digest

    /// The same tensors and metadata written by Python's safetensors, and by hand with another
    /// header layout (indented, keys in another order, `__metadata__` last, non-ASCII escaped,
    /// data in reverse order): other files, same digest, and the signature still verifies.
    @Test func headerFormattingDoesNotChangeTheDigest() throws {
        let key = SigningKey.generate()
        let trusted = TrustedKeys(keys: [key.publicKey])
        var writer = try tinyModel()
        writer.metadata["note"] = "Größe ✓ \"quoted\" / slash"
        let fields = try writer.sign(with: key)
        let signed = try written(writer)

        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-reformat")
        let resaved = directory.appendingPathComponent("resaved.safetensors")
        let handmade = directory.appendingPathComponent("handmade.safetensors")
        let script = #"""
        import json, struct, sys
        from safetensors import safe_open
        from safetensors.numpy import save_file
        src, resaved, handmade = sys.argv[1:4]
        with safe_open(src, 'np') as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        save_file(tensors, resaved, metadata=meta)
        # By hand: tensors in reverse name order, both in the header and in the data section.
        header, data = {}, b''
        for name in sorted(tensors, reverse=True):
            array = tensors[name]
            raw = array.astype(array.dtype.newbyteorder('<')).tobytes()
            dtype = {'int8': 'I8', 'int32': 'I32', 'float32': 'F32', 'uint8': 'U8'}[str(array.dtype)]
            header[name] = {'data_offsets': [len(data), len(data) + len(raw)], 'shape': list(array.shape), 'dtype': dtype}
            data += raw
        header['__metadata__'] = dict(sorted(meta.items(), reverse=True))
        text = json.dumps(header, indent=2, ensure_ascii=True).encode() + b'\n\n   '
        open(handmade, 'wb').write(struct.pack('<Q', len(text)) + text + data)
        """#
        try TestEnvironment.runPython(script, arguments: [signed.url.path, resaved.path, handmade.path])

        var hashes: Set<String> = [signed.sha256()]
        for url in [resaved, handmade] {
            let file = try SafeTensorsFile(contentsOf: url)
            #expect(file.metadata == signed.metadata)
            #expect(ModelSignature.contentDigest(of: file) == ModelSignature.contentDigest(of: signed), "\(url.lastPathComponent)")
            let verified = try ModelSignature.verify(file, trusting: trusted)
            #expect(verified.contentSHA256 == fields.contentSHA256 && verified.keyID == key.id)
            hashes.insert(file.sha256())
        }
        // The hand-made file really is laid out differently.
        let handmadeFile = try SafeTensorsFile(contentsOf: handmade)
        #expect(handmadeFile.tensors.map(\.name) == signed.tensors.map(\.name).sorted().reversed())
        #expect(hashes.count >= 2)
        #expect(try String(contentsOf: handmade, encoding: .isoLatin1).contains("\\u00f6"))
    }

    /// Every part of the content is in the digest, and the encoding keeps fields apart.
    @Test func digestCoversEveryPartOfTheContent() throws {
        func digest(_ metadata: [String: String], _ tensors: [(String, DType, [Int], [UInt8])]) throws -> [UInt8] {
            var writer = SafeTensorsWriter(metadata: metadata)
            for (name, dtype, shape, bytes) in tensors { try writer.add(name, dtype: dtype, shape: shape, bytes: bytes) }
            return try writer.contentDigest()
        }
        let base = try digest(["k": "v"], [("a", .u8, [2, 2], [1, 2, 3, 4])])
        let variants: [(String, [UInt8])] = [
            ("dtype", try digest(["k": "v"], [("a", .i8, [2, 2], [1, 2, 3, 4])])),
            ("shape", try digest(["k": "v"], [("a", .u8, [4], [1, 2, 3, 4])])),
            ("rank", try digest(["k": "v"], [("a", .u8, [2, 2, 1], [1, 2, 3, 4])])),
            ("name", try digest(["k": "v"], [("b", .u8, [2, 2], [1, 2, 3, 4])])),
            ("data", try digest(["k": "v"], [("a", .u8, [2, 2], [1, 2, 3, 5])])),
            ("metadata value", try digest(["k": "w"], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
            ("metadata key", try digest(["K": "v"], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
            ("metadata added", try digest(["k": "v", "x": ""], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
            ("metadata removed", try digest([:], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
            ("tensor added", try digest(["k": "v"], [("a", .u8, [2, 2], [1, 2, 3, 4]), ("e", .u8, [0], [])])),
            ("key/value boundary", try digest(["kv": ""], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
            ("signature-like key", try digest(["k": "v", "signature ": "x"], [("a", .u8, [2, 2], [1, 2, 3, 4])])),
        ]
        for (what, variant) in variants { #expect(variant != base, "\(what)") }
        #expect(Set(variants.map(\.1)).count == variants.count)
        // Bytes moved from one tensor to the next.
        #expect(try digest([:], [("a", .u8, [2], [1, 2]), ("b", .u8, [1], [3])])
            != digest([:], [("a", .u8, [1], [1]), ("b", .u8, [2], [2, 3])]))
        // The signature fields, and only they, are left out.
        #expect(try digest(["k": "v", "content_sha256": "1", "signature": "2", "signing_key_id": "3"],
                           [("a", .u8, [2, 2], [1, 2, 3, 4])]) == base)
    }

    /// A fixed file, byte for byte: its digest is pinned, and Python's hashlib computes the same
    /// from the documented canonical stream (an independent implementation of docs/FORMAT.md).
    @Test func goldenDigest() throws {
        // Header keys in no particular order; signature fields with junk values (left out);
        // names whose UTF-8 order differs from UTF-16 order (U+FF5E vs U+1F600) and from
        // case-insensitive order; a scalar and an empty tensor.
        let header = #"""
        {"w":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]},"__metadata__":{"format":"ventriq-int8","config":"{\"a\":[1,2]}","\u00e9":"\u00fc","content_sha256":"0000000000000000000000000000000000000000000000000000000000000000","signature":"AAAA","signing_key_id":"0123456789abcdef","Zeta":""},"b":{"dtype":"I32","shape":[2],"data_offsets":[6,14]},"s":{"dtype":"F32","shape":[],"data_offsets":[14,18]},"e":{"dtype":"F32","shape":[2,0],"data_offsets":[18,18]},"x😀":{"dtype":"U8","shape":[1],"data_offsets":[18,19]},"x～":{"dtype":"U8","shape":[1],"data_offsets":[19,20]},"Z":{"dtype":"BOOL","shape":[2],"data_offsets":[20,22]}}
        """#
        let data: [UInt8] = [0x80, 0xFF, 0x00, 0x01, 0x02, 0x7F] // w
            + [0xF9, 0xFF, 0xFF, 0xFF, 0x40, 0x42, 0x0F, 0x00] // b: -7, 1_000_000
            + [0x00, 0x00, 0x00, 0x3F] // s: 0.5
            + [0xAA, 0xBB] + [0x01, 0x00] // x😀, x～, Z
        let url = try writeTemporaryFile(safetensorsBytes(header: header, data: data))
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.tensors.count == 7 && file.metadata.count == 7)

        let python = try TestEnvironment.runPython(canonicalDigestScript, arguments: [url.path])
        let swift = ModelSignature.contentSHA256(of: file)
        #expect(swift == python.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(swift == "81006762e326b39e73c0784365441b91a26a092253bea38d842333550990557d")
    }
}

// MARK: Helpers

/// The canonical content stream of docs/FORMAT.md ("Signatures"), in Python from the raw file:
/// prints the lowercase hex SHA-256.
private let canonicalDigestScript = #"""
import hashlib, json, struct, sys
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n].decode('utf-8'))
start = 8 + n
meta = header.pop('__metadata__', {})
def u64(v): return struct.pack('<Q', v)
def string(s):
    b = s.encode('utf-8')
    return u64(len(b)) + b
out = bytearray(b'ventriq-model-content-v1\n')
keys = sorted((k for k in meta if k not in ('content_sha256', 'signature', 'signing_key_id')), key=lambda k: k.encode('utf-8'))
out += u64(len(keys))
for k in keys:
    out += string(k) + string(meta[k])
names = sorted(header, key=lambda k: k.encode('utf-8'))
out += u64(len(names))
for name in names:
    entry = header[name]
    begin, end = entry['data_offsets']
    out += string(name) + string(entry['dtype']) + u64(len(entry['shape']))
    out += b''.join(u64(d) for d in entry['shape'])
    out += u64(end - begin) + raw[start + begin:start + end]
print(hashlib.sha256(out).hexdigest())
"""#

/// A small int8 model: every dtype the quantizer writes, and a config.
private func tinyModel() throws -> SafeTensorsWriter {
    var writer = SafeTensorsWriter(metadata: [
        "format": "ventriq-int8", "format_version": "1", "config": #"{"name":"tiny","depth":1}"#,
    ])
    try writer.add("blocks.0.mlp.fc1.weight", shape: [2, 3], int8s: [-128, -1, 0, 1, 2, 127])
    try writer.add("blocks.0.mlp.fc1.weight_scale", shape: [2], floats: [0.5, 0.25])
    try writer.add("blocks.0.mlp.fc1.bias", shape: [2], int32s: [-7, 1_000_000])
    try writer.add("pos_embed", shape: [1, 2, 2], floats: [1, -2, 3.5, 4])
    return writer
}

private func temporaryModelURL() throws -> URL {
    try TestEnvironment.makeTemporaryDirectory("ventriq-signed").appendingPathComponent("model.safetensors")
}

/// Writes `writer` to a new file and opens it.
private func written(_ writer: SafeTensorsWriter) throws -> SafeTensorsFile {
    let url = try temporaryModelURL()
    try writer.write(to: url)
    return try SafeTensorsFile(contentsOf: url)
}

/// `tinyModel()` signed with `key`, written and opened.
private func signedFile(_ key: SigningKey) throws -> (SafeTensorsFile, SignatureFields) {
    var writer = try tinyModel()
    let fields = try writer.sign(with: key)
    return (try written(writer), fields)
}

private func verificationError(_ file: SafeTensorsFile, _ keys: TrustedKeys) -> ModelSignatureError? {
    do {
        _ = try ModelSignature.verify(file, trusting: keys)
        return nil
    } catch {
        return error as? ModelSignatureError
    }
}

/// `bytes` with the only occurrence of `old` replaced by `new` (same length).
private func replacing(_ old: String, with new: String, in bytes: [UInt8]) throws -> [UInt8] {
    let from = Array(old.utf8), to = Array(new.utf8)
    precondition(from.count == to.count)
    let starts = (0 ... bytes.count - from.count).filter { Array(bytes[$0 ..< $0 + from.count]) == from }
    try #require(starts.count == 1, "\(old) occurs \(starts.count) times")
    var out = bytes
    out.replaceSubrange(starts[0] ..< starts[0] + from.count, with: to)
    return out
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
