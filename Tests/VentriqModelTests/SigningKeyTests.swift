import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Key generation, key files and their errors, trusted-key directories.
@Suite struct SigningKeyTests {
    // MARK: Round trips

    @Test func generatedKeyRoundTripsThroughFiles() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-keys")
        let privateURL = directory.appendingPathComponent("release.key")
        let publicURL = directory.appendingPathComponent("release.pub")
        let key = SigningKey.generate()
        try key.write(privateTo: privateURL, publicTo: publicURL, comment: "release key\nsecond line")

        // The files are exactly the documented text.
        let privateText = try String(contentsOf: privateURL, encoding: .utf8)
        let publicText = try String(contentsOf: publicURL, encoding: .utf8)
        let seed = Data(key.rawRepresentation).base64EncodedString()
        let raw = Data(key.publicKey.rawRepresentation).base64EncodedString()
        #expect(privateText == "ventriq-ed25519-private-key-v1\n\(seed)\n")
        #expect(publicText == "ventriq-ed25519-public-key-v1\n\(raw)\nrelease key second line\n")
        #expect(key.rawRepresentation.count == 32 && key.publicKey.rawRepresentation.count == 32)

        // Private key readable by its owner only; the public key by everyone.
        #expect(try fileMode(privateURL) == 0o600)
        #expect(try fileMode(publicURL) == 0o644)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["release.key", "release.pub"])

        let loaded = try SigningKey.load(privateKeyAt: privateURL)
        let loadedPublic = try PublicKey.load(at: publicURL)
        #expect(loaded.rawRepresentation == key.rawRepresentation)
        #expect(loaded.publicKey == key.publicKey)
        #expect(loaded.id == key.id)
        #expect(loadedPublic == key.publicKey)
        #expect(loadedPublic.id == key.id)
        #expect(loadedPublic.comment == "release key second line")

        // A signature made with the loaded private key verifies with the loaded public key only.
        let message: [UInt8] = Array("ventriq".utf8)
        let signature = try loaded.signature(for: message)
        #expect(signature.count == 64)
        #expect(loadedPublic.isValidSignature(signature, for: message))
        #expect(!loadedPublic.isValidSignature(signature, for: Array("ventriQ".utf8)))
        #expect(!SigningKey.generate().publicKey.isValidSignature(signature, for: message))

        // Two generated keys differ.
        #expect(SigningKey.generate().rawRepresentation != key.rawRepresentation)
    }

    /// The key id is the first 16 hex digits of SHA-256 of the raw public key, as Python's
    /// hashlib computes it from the public key file.
    @Test func keyIDIsSHA256PrefixOfRawPublicKey() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-keys")
        var ids: [String] = []
        var paths: [String] = []
        for index in 0 ..< 3 {
            let key = SigningKey.generate()
            let url = directory.appendingPathComponent("k\(index).pub")
            try key.publicKey.write(to: url)
            ids.append(key.id)
            paths.append(url.path)
        }
        let script = """
        import base64, hashlib, sys
        for path in sys.argv[1:]:
            lines = open(path).read().split('\\n')
            assert lines[0] == 'ventriq-ed25519-public-key-v1', lines[0]
            raw = base64.b64decode(lines[1], validate=True)
            assert len(raw) == 32
            print(hashlib.sha256(raw).hexdigest()[:16])
        """
        let run = try TestEnvironment.runPython(script, arguments: paths)
        #expect(run.stdout.split(separator: "\n").map(String.init) == ids)
        #expect(ids.allSatisfy { $0.count == 16 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
    }

    /// RFC 8032 section 7.1, test 1: the seed gives the RFC's public key, and the RFC's signature
    /// of the empty message verifies (keys and signatures are standard Ed25519).
    @Test func rfc8032TestVector() throws {
        let seed = signingHexBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        let publicRaw = signingHexBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = signingHexBytes("""
            e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b
            """)
        let url = try keyFile("ventriq-ed25519-private-key-v1\n\(Data(seed).base64EncodedString())\n")
        let key = try SigningKey.load(privateKeyAt: url)
        #expect(key.publicKey.rawRepresentation == publicRaw)
        let publicKey = try PublicKey(rawRepresentation: publicRaw)
        #expect(publicKey.isValidSignature(signature, for: []))
        var flipped = signature
        flipped[10] ^= 0x01
        #expect(!publicKey.isValidSignature(flipped, for: []))
        #expect(publicKey.isValidSignature(try key.signature(for: []), for: []))
    }

    @Test func descriptionsDoNotRevealThePrivateKey() throws {
        let key = SigningKey.generate()
        let seed = Data(key.rawRepresentation).base64EncodedString()
        let hex = key.rawRepresentation.map { String(format: "%02x", $0) }.joined()
        var dumped = ""
        dump(key, to: &dumped)
        for text in ["\(key)", String(reflecting: key), dumped] {
            #expect(text.contains(key.id))
            #expect(!text.contains(seed) && !text.contains(hex), "\(text)")
        }
    }

    @Test func writeRefusesToReplaceExistingFilesUnlessAsked() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-keys")
        let privateURL = directory.appendingPathComponent("a.key")
        let publicURL = directory.appendingPathComponent("a.pub")
        let first = SigningKey.generate(), second = SigningKey.generate()
        try first.write(privateTo: privateURL, publicTo: publicURL)

        #expect(throws: SigningKeyError.alreadyExists(file: privateURL.path)) {
            try second.write(privateTo: privateURL, publicTo: directory.appendingPathComponent("b.pub"))
        }
        // The public path taken: nothing is written, not even the private key.
        let otherPrivate = directory.appendingPathComponent("b.key")
        #expect(throws: SigningKeyError.alreadyExists(file: publicURL.path)) {
            try second.write(privateTo: otherPrivate, publicTo: publicURL)
        }
        #expect(!FileManager.default.fileExists(atPath: otherPrivate.path))
        #expect(try SigningKey.load(privateKeyAt: privateURL).id == first.id)
        #expect(try PublicKey.load(at: publicURL).id == first.id)

        try second.write(privateTo: privateURL, publicTo: publicURL, overwrite: true)
        #expect(try SigningKey.load(privateKeyAt: privateURL).id == second.id)
        #expect(try PublicKey.load(at: publicURL).id == second.id)
        #expect(try fileMode(privateURL) == 0o600)

        #expect(throws: SigningKeyError.cannotWrite(
            file: privateURL.path, reason: "the private and the public key would be the same file")) {
            try second.write(privateTo: privateURL, publicTo: privateURL, overwrite: true)
        }
        let missing = directory.appendingPathComponent("absent/x.key")
        do {
            try second.write(privateTo: missing, publicTo: directory.appendingPathComponent("absent/x.pub"))
            Issue.record("writing into a missing directory succeeded")
        } catch let error as SigningKeyError {
            guard case .cannotWrite(let file, let reason) = error else {
                Issue.record("expected cannotWrite, got \(error)")
                return
            }
            #expect(file == missing.path && reason.contains("No such file or directory"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["a.key", "a.pub"])
    }

    @Test func acceptsCRLFAndTrailingBlankLines() throws {
        let key = SigningKey.generate()
        let seed = Data(key.rawRepresentation).base64EncodedString()
        let raw = Data(key.publicKey.rawRepresentation).base64EncodedString()
        let privateURL = try keyFile("ventriq-ed25519-private-key-v1\r\n\(seed)\r\n\r\n")
        #expect(try SigningKey.load(privateKeyAt: privateURL).id == key.id)
        let publicURL = try keyFile("ventriq-ed25519-public-key-v1\r\n\(raw)")
        let loaded = try PublicKey.load(at: publicURL)
        #expect(loaded == key.publicKey && loaded.comment == nil)
    }

    // MARK: Key file errors

    @Test func missingAndUnreadableKeyFiles() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-keys")
        let absent = directory.appendingPathComponent("absent.key")
        #expect(throws: SigningKeyError.fileMissing(file: absent.path)) { try SigningKey.load(privateKeyAt: absent) }
        #expect(throws: SigningKeyError.fileMissing(file: absent.path)) { try PublicKey.load(at: absent) }
        #expect(SigningKeyError.fileMissing(file: absent.path).description == "\(absent.path): no such key file")
        #expect(throws: SigningKeyError.cannotRead(file: directory.path, reason: "not a regular file")) {
            try SigningKey.load(privateKeyAt: directory)
        }
        let large = try keyFile(String(repeating: "x", count: 70_000))
        #expect(throws: SigningKeyError.cannotRead(file: large.path, reason: "70000 bytes, more than a key file's 65536")) {
            try PublicKey.load(at: large)
        }
        let binary = try keyFile(bytes: [0x76, 0x65, 0xFF, 0xFE, 0x0A])
        #expect(throws: SigningKeyError.notText(file: binary.path)) { try SigningKey.load(privateKeyAt: binary) }
    }

    @Test func wrongFirstLine() throws {
        let openssh = try keyFile("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n")
        let error = SigningKeyError.wrongFirstLine(
            file: openssh.path, expected: "ventriq-ed25519-private-key-v1", found: "\"-----BEGIN OPENSSH PRIVATE KEY-----\"")
        #expect(throws: error) { try SigningKey.load(privateKeyAt: openssh) }
        #expect(error.description.hasPrefix("\(openssh.path): first line is \"-----BEGIN OPENSSH PRIVATE KEY-----\"; expected \"ventriq-ed25519-private-key-v1\""))

        let sshPublic = try keyFile("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2b user@host\n")
        #expect(throws: SigningKeyError.wrongFirstLine(
            file: sshPublic.path, expected: "ventriq-ed25519-public-key-v1",
            found: "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2b user@host\"")) {
            try PublicKey.load(at: sshPublic)
        }
        let long = String(repeating: "k", count: 100)
        let longFile = try keyFile(long + "\n")
        #expect(throws: SigningKeyError.wrongFirstLine(
            file: longFile.path, expected: "ventriq-ed25519-public-key-v1", found: "\"\(long.prefix(60))...\"")) {
            try PublicKey.load(at: longFile)
        }
        // A future version is not read as this one.
        let v2 = try keyFile("ventriq-ed25519-public-key-v2\n\(Data(count: 32).base64EncodedString())\n")
        #expect(throws: SigningKeyError.wrongFirstLine(
            file: v2.path, expected: "ventriq-ed25519-public-key-v1", found: "\"ventriq-ed25519-public-key-v2\"")) {
            try PublicKey.load(at: v2)
        }
        let empty = try keyFile("")
        #expect(throws: SigningKeyError.wrongFirstLine(
            file: empty.path, expected: "ventriq-ed25519-private-key-v1", found: "empty (the file is empty)")) {
            try SigningKey.load(privateKeyAt: empty)
        }
    }

    @Test func publicAndPrivateKeysSwapped() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-keys")
        let privateURL = directory.appendingPathComponent("k.key")
        let publicURL = directory.appendingPathComponent("k.pub")
        try SigningKey.generate().write(privateTo: privateURL, publicTo: publicURL)

        let publicGiven = SigningKeyError.publicKeyWherePrivateExpected(file: publicURL.path)
        #expect(throws: publicGiven) { try SigningKey.load(privateKeyAt: publicURL) }
        #expect(publicGiven.description.hasPrefix("\(publicURL.path): this is a public key"))
        let privateGiven = SigningKeyError.privateKeyWherePublicExpected(file: privateURL.path)
        #expect(throws: privateGiven) { try PublicKey.load(at: privateURL) }
        #expect(privateGiven.description.hasPrefix("\(privateURL.path): this is a private key"))
        #expect(throws: privateGiven) { try TrustedKeys.load(files: [publicURL, privateURL]) }
    }

    @Test func badKeyLines() throws {
        let key = SigningKey.generate()
        let seed = Data(key.rawRepresentation).base64EncodedString()
        let raw = Data(key.publicKey.rawRepresentation).base64EncodedString()

        let headerOnly = try keyFile("ventriq-ed25519-private-key-v1\n")
        #expect(throws: SigningKeyError.missingKeyLine(file: headerOnly.path)) { try SigningKey.load(privateKeyAt: headerOnly) }
        let blankKeyLine = try keyFile("ventriq-ed25519-public-key-v1\n\ncomment\n")
        #expect(throws: SigningKeyError.missingKeyLine(file: blankKeyLine.path)) { try PublicKey.load(at: blankKeyLine) }

        for bad in ["not base64!", seed + "  ", " " + raw, String(seed.dropLast())] {
            let url = try keyFile("ventriq-ed25519-private-key-v1\n\(bad)\n")
            #expect(throws: SigningKeyError.badBase64(file: url.path, line: 2), "\(bad)") { try SigningKey.load(privateKeyAt: url) }
        }
        let badPublic = try keyFile("ventriq-ed25519-public-key-v1\n@@@@\n")
        #expect(throws: SigningKeyError.badBase64(file: badPublic.path, line: 2)) { try PublicKey.load(at: badPublic) }

        // 31 bytes; 64 bytes (a libsodium-style secret key: seed + public key).
        let short = try keyFile("ventriq-ed25519-public-key-v1\n\(Data(key.publicKey.rawRepresentation.dropLast()).base64EncodedString())\n")
        #expect(throws: SigningKeyError.wrongKeyLength(file: short.path, expected: 32, found: 31)) { try PublicKey.load(at: short) }
        let libsodium = Data(key.rawRepresentation + key.publicKey.rawRepresentation).base64EncodedString()
        let long = try keyFile("ventriq-ed25519-private-key-v1\n\(libsodium)\n")
        let longError = SigningKeyError.wrongKeyLength(file: long.path, expected: 32, found: 64)
        #expect(throws: longError) { try SigningKey.load(privateKeyAt: long) }
        #expect(longError.description == "\(long.path): the key decodes to 64 bytes; expected 32")

        // Private key files have no comment line; public key files at most one.
        let privateExtra = try keyFile("ventriq-ed25519-private-key-v1\n\(seed)\ncomment\n")
        #expect(throws: SigningKeyError.unexpectedLine(file: privateExtra.path, line: 3)) {
            try SigningKey.load(privateKeyAt: privateExtra)
        }
        let publicExtra = try keyFile("ventriq-ed25519-public-key-v1\n\(raw)\ncomment\nmore\n")
        #expect(throws: SigningKeyError.unexpectedLine(file: publicExtra.path, line: 4)) { try PublicKey.load(at: publicExtra) }

        // In-memory constructors check the length too.
        #expect(throws: SigningKeyError.wrongKeyLength(file: "(in memory)", expected: 32, found: 33)) {
            try SigningKey(rawRepresentation: [UInt8](repeating: 1, count: 33))
        }
        #expect(throws: SigningKeyError.wrongKeyLength(file: "(in memory)", expected: 32, found: 0)) {
            try PublicKey(rawRepresentation: [])
        }
    }

    // MARK: Trusted keys

    @Test func trustedKeysFromDirectory() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-trusted")
        let keys = (0 ..< 3).map { _ in SigningKey.generate() }
        try keys[0].publicKey.write(to: directory.appendingPathComponent("a.pub"))
        try keys[1].publicKey.write(to: directory.appendingPathComponent("b.pub"))
        // The same key twice is one trusted key.
        try keys[1].publicKey.write(to: directory.appendingPathComponent("b-copy.pub"))
        // Not *.pub, or hidden: ignored, even when not a key at all.
        try keys[2].write(privateTo: directory.appendingPathComponent("c.key"), publicTo: directory.appendingPathComponent(".c.pub"))
        try Data("not a key".utf8).write(to: directory.appendingPathComponent("README"))

        let trusted = try TrustedKeys.load(directory: directory)
        #expect(trusted.count == 2)
        #expect(trusted.ids == [keys[0].id, keys[1].id].sorted())
        #expect(trusted[keys[0].id] == keys[0].publicKey)
        #expect(trusted.keys(withID: keys[1].id) == [keys[1].publicKey])
        #expect(trusted[keys[2].id] == nil && trusted.keys(withID: keys[2].id).isEmpty)
        #expect(trusted == TrustedKeys(keys: [keys[1].publicKey, keys[0].publicKey, keys[1].publicKey]))
        #expect(trusted.merging(TrustedKeys(keys: [keys[2].publicKey])).ids == keys.map(\.id).sorted())

        let fromFiles = try TrustedKeys.load(files: [directory.appendingPathComponent("b.pub")])
        #expect(fromFiles.ids == [keys[1].id])
        #expect(TrustedKeys(keys: []).isEmpty)
    }

    @Test func trustedKeyDirectoryErrors() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-trusted")
        let absent = directory.appendingPathComponent("absent")
        let missingError = SigningKeyError.unreadableDirectory(directory: absent.path, reason: "no such directory")
        #expect(throws: missingError) { try TrustedKeys.load(directory: absent) }
        #expect(missingError.description == "\(absent.path): cannot list the trusted-keys directory: no such directory")

        let plainFile = directory.appendingPathComponent("file.pub")
        try SigningKey.generate().publicKey.write(to: plainFile)
        #expect(throws: SigningKeyError.unreadableDirectory(directory: plainFile.path, reason: "not a directory")) {
            try TrustedKeys.load(directory: plainFile)
        }

        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: false)
        try Data("x".utf8).write(to: empty.appendingPathComponent("notes.txt"))
        #expect(throws: SigningKeyError.noPublicKeys(directory: empty.path)) { try TrustedKeys.load(directory: empty) }

        // A bad *.pub is an error naming that file, not skipped.
        let mixed = directory.appendingPathComponent("mixed")
        try FileManager.default.createDirectory(at: mixed, withIntermediateDirectories: false)
        try SigningKey.generate().publicKey.write(to: mixed.appendingPathComponent("a.pub"))
        let bad = mixed.appendingPathComponent("b.pub")
        try Data("ventriq-ed25519-public-key-v1\nAAAA\n".utf8).write(to: bad)
        #expect(throws: SigningKeyError.wrongKeyLength(file: bad.path, expected: 32, found: 3)) {
            try TrustedKeys.load(directory: mixed)
        }
        let privateAsPub = mixed.appendingPathComponent("b.pub")
        try SigningKey.generate().write(
            privateTo: privateAsPub, publicTo: mixed.appendingPathComponent("real.pub.txt"), overwrite: true)
        #expect(throws: SigningKeyError.privateKeyWherePublicExpected(file: privateAsPub.path)) {
            try TrustedKeys.load(directory: mixed)
        }
    }
}

// MARK: Helpers

/// Permission bits of a file.
private func fileMode(_ url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return (attributes[.posixPermissions] as! NSNumber).intValue & 0o777
}

/// A new key file with `text` in a fresh directory.
private func keyFile(_ text: String) throws -> URL { try keyFile(bytes: Array(text.utf8)) }

private func keyFile(bytes: [UInt8]) throws -> URL {
    let url = try TestEnvironment.makeTemporaryDirectory("ventriq-keyfile").appendingPathComponent("key")
    try Data(bytes).write(to: url)
    return url
}

/// Bytes from hex digits (whitespace ignored).
func signingHexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0 ... $0 + 1]), radix: 16)! }
}
