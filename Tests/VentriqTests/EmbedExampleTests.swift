import Foundation
import Testing
import Ventriq
import VentriqTestSupport

/// `ventriq-embed` (examples/embed), the program embedding applications copy: its estimates are
/// `ventriq score`'s and `ventriq stream`'s for the same windows, raw frames on stdin score as the
/// record they came from, and bad input exits 1 naming the file. (Its peak RSS is measured by
/// `make bench-rss`, not asserted here.)
@Suite("ventriq-embed example", .serialized)
struct EmbedExampleTests {
    static let model = "models/ventriq-compact-int8.safetensors"
    static let keys = "keys/trusted"
    static let sample = CommandLineTests.sample
    static let frames = "examples/recordings/anterior_mi_00190.dat"

    /// Runs the example (built by `swift test` beside the test bundle, like `ventriq`) in the
    /// repository root, with `stdin` (a file: absolute, or relative to the root) as its standard
    /// input when given.
    static func embed(_ arguments: [String], stdin: String? = nil) throws -> CommandLineTests.Run {
        let input: FileHandle
        if let stdin {
            let url = stdin.hasPrefix("/") ? URL(fileURLWithPath: stdin) : TestEnvironment.repositoryRoot.appendingPathComponent(stdin)
            input = try FileHandle(forReadingFrom: url)
        } else {
            input = FileHandle.nullDevice
        }
        let executable = CommandLineTests.executable.deletingLastPathComponent().appendingPathComponent("ventriq-embed")
        return try CommandLineTests.run(executable, arguments, stdin: input)
    }

    static func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// name -> value of a line's "estimates" (array of {name, value, ...}) and "risks" (array of
    /// {name, probability, ...}).
    static func values(_ line: [String: Any]) -> (estimates: [String: Double], probabilities: [String: Double]) {
        let e = (line["estimates"] as! [[String: Any]]).map { ($0["name"] as! String, $0["value"] as! Double) }
        let r = (line["risks"] as! [[String: Any]]).map { ($0["name"] as! String, $0["probability"] as! Double) }
        return (Dictionary(uniqueKeysWithValues: e), Dictionary(uniqueKeysWithValues: r))
    }

    @Test("a record: one line per window, then exactly `ventriq score`'s line; windows match `ventriq stream`'s")
    func record() throws {
        let run = try Self.embed([Self.model, Self.keys, Self.sample])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("peak RSS") && run.stderr.contains("budget"))
        let lines = run.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 3)

        // The recording line is `ventriq score`'s, byte for byte (same result writer, same windows).
        let score = try CommandLineTests.ventriq(["score", Self.sample] + CommandLineTests.trust)
        #expect(score.status == 0, "\(score.stderr)")
        #expect(lines[2] == score.stdout.trimmingCharacters(in: .newlines))

        // Each window's estimates: the recording's values are their mean.
        let parsed = try Self.objects(run.stdout)
        let windows = parsed.prefix(2).map(Self.values)
        let recording = Self.values(parsed[2])
        #expect(parsed[0]["window"] as? Int == 0 && parsed[1]["window"] as? Int == 1)
        #expect(parsed[1]["start_s"] as? Double == 5 && parsed[1]["end_s"] as? Double == 10)
        #expect(Set(recording.estimates.keys) == ["lvef_pct", "rvef_pct", "co_l_min"] && recording.probabilities.count == 6)
        for (name, value) in recording.estimates {
            #expect(abs((windows[0].estimates[name]! + windows[1].estimates[name]!) / 2 - value) <= 1e-12 * max(1, abs(value)), "\(name)")
        }
        for (name, value) in recording.probabilities {
            #expect(abs((windows[0].probabilities[name]! + windows[1].probabilities[name]!) / 2 - value) <= 1e-12, "\(name)")
        }
        // Flags are the risks at or above their thresholds.
        for line in parsed.prefix(2) {
            let flagged = (line["risks"] as! [[String: Any]]).filter { $0["flagged"] as! Bool }.map { $0["name"] as! String }
            #expect(line["flags"] as? [String] == flagged)
            #expect((line["quality"] as? [String: String])?.count == 12)
        }

        // `ventriq stream` scores the same consecutive 5 s windows (replay profile) and prints
        // them with 3 decimals (probabilities with 6).
        let stream = try CommandLineTests.ventriq(["stream", "--profile", "firmware-profiles/replay.toml",
                                                   "--source", "replay:\(Self.sample)@max"] + CommandLineTests.trust)
        #expect(stream.status == 0, "\(stream.stderr)")
        let streamed = try Self.objects(stream.stdout).filter { $0["status"] as? String == "scored" }
        try #require(streamed.count == 2)
        for (k, line) in streamed.enumerated() {
            for (name, e) in line["estimates"] as! [String: [String: Any]] {
                #expect(abs(e["value"] as! Double - windows[k].estimates[name]!) <= 0.0005 + 1e-9, "window \(k) \(name)")
            }
            for (name, p) in line["probabilities"] as! [String: Double] {
                #expect(abs(p - windows[k].probabilities[name]!) <= 0.0000005 + 1e-12, "window \(k) \(name)")
            }
        }
    }

    @Test("raw int16 frames on stdin (the record's .dat) give the record's window lines, bit for bit")
    func rawFrames() throws {
        let record = try Self.embed([Self.model, Self.keys, Self.sample])
        let raw = try Self.embed([Self.model, Self.keys, "-"], stdin: Self.frames)
        #expect(raw.status == 0, "\(raw.stderr)")
        let recordLines = record.stdout.split(separator: "\n")
        #expect(raw.stdout.split(separator: "\n") == Array(recordLines.prefix(2)))
        #expect(!raw.stderr.contains("not scored"))
    }

    @Test("bad input: exit 1 with a message naming the file; usage errors exit 2")
    func badInput() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        let missing = try Self.embed([Self.model, Self.keys, "examples/recordings/does_not_exist.hea"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("ventriq-embed: error: ") && missing.stderr.contains("does_not_exist.hea"))
        #expect(missing.stdout.isEmpty)

        let noModel = try Self.embed(["models/no_such_model.safetensors", Self.keys, Self.sample])
        #expect(noModel.status == 1)
        #expect(noModel.stderr.contains("cannot load model") && noModel.stderr.contains("no_such_model.safetensors"))

        // Unsigned (the float reference model), and signed by a key that is not trusted.
        let unsigned = try Self.embed(["models/ventriq-compact.safetensors", Self.keys, Self.sample])
        #expect(unsigned.status == 1)
        #expect(unsigned.stderr.contains("ventriq-compact.safetensors: the model is not signed"))
        try SigningKey.generate().publicKey.write(to: dir.appendingPathComponent("other.pub"))
        let untrusted = try Self.embed([Self.model, dir.path, Self.sample])
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("ventriq-compact-int8.safetensors: signed with key") && untrusted.stderr.contains("which is not trusted"))
        #expect(untrusted.stdout.isEmpty)

        let noKeys = try Self.embed([Self.model, dir.appendingPathComponent("nowhere").path, Self.sample])
        #expect(noKeys.status == 1)
        #expect(noKeys.stderr.contains("nowhere: cannot list the trusted-keys directory: no such directory"))

        // Fewer bytes on stdin than one window; a record that cannot be read (a CSV without a rate).
        let header = dir.appendingPathComponent("short.bin")
        try Data(repeating: 0, count: 1000).write(to: header)
        let short = try Self.embed([Self.model, Self.keys, "-"], stdin: header.path)
        #expect(short.status == 1)
        #expect(short.stderr.contains("standard input: 1000 bytes (41 frames) is less than one window"))
        let csv = dir.appendingPathComponent("short.csv")
        try "I,II\n0.1,0.2\n0.3,0.4\n".write(to: csv, atomically: true, encoding: .utf8)
        let shortRecord = try Self.embed([Self.model, Self.keys, csv.path])
        #expect(shortRecord.status == 1)
        #expect(shortRecord.stderr.contains("short.csv"))

        #expect(try Self.embed([]).status == 2)
        #expect(try Self.embed([Self.model, Self.keys]).status == 2)
    }
}
