import Foundation
import Testing
import VentriqTestSupport

/// The `ventriq` executable as a user runs it: exit codes, where data and diagnostics go, and
/// the bad-input messages. The binary is built by `swift test` next to the test bundle.
@Suite("ventriq command line", .serialized)
struct CommandLineTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var executable: URL {
        // The test bundle lives in the build products directory, beside the `ventriq` binary.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("ventriq")
    }

    static func ventriq(_ arguments: [String]) throws -> Run { try run(executable, arguments) }

    /// Runs a built product in the repository root and collects its output; standard input is
    /// `stdin` when given, else nothing.
    static func run(_ executable: URL, _ arguments: [String], stdin: FileHandle? = nil) throws -> Run {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        if let stdin { process.standardInput = stdin }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static let sample = "examples/recordings/anterior_mi_00190.hea"
    /// The bundled signed int8 model is the default; its development key is trusted here.
    static let trust = ["--trusted-keys", "keys/trusted"]
    static let float = ["--model", "models/ventriq-compact.safetensors", "--allow-unsigned"]

    @Test("score: one JSON line per record on stdout, exit 0")
    func scoreJSONLines() throws {
        let run = try Self.ventriq(["score", "examples/recordings"] + Self.trust)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 5)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(first["record"] as? String == "anterior_mi_00190")
        #expect((first["model"] as! [String: Any])["sha256"] as? String != nil)
        #expect((first["estimates"] as! [[String: Any]]).map { $0["name"] as! String } == ["lvef_pct", "rvef_pct", "co_l_min"])
        #expect(run.stderr.isEmpty)
    }

    @Test("score: a failing record is reported on stderr, the others still score, exit 1")
    func partialFailure() throws {
        let run = try Self.ventriq(["score", Self.sample, "examples/recordings/does_not_exist.hea", "--format", "csv"] + Self.trust)
        #expect(run.status == 1)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("record,source,model,model_precision,model_sha256,windows,lvef_pct,lvef_pct_unit"))
        #expect(run.stderr.contains("does_not_exist.hea"))
    }

    @Test("score --output writes the file atomically and prints nothing on stdout")
    func outputFile() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("results.jsonl")
        let run = try Self.ventriq(["score", Self.sample, "--output", file.path] + Self.trust)
        #expect(run.status == 0)
        #expect(run.stdout.isEmpty)
        #expect(try String(contentsOf: file, encoding: .utf8).split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["results.jsonl"])
    }

    @Test("usage errors exit with 2")
    func usageErrors() throws {
        #expect(try Self.ventriq(["score"]).status == 2)
        #expect(try Self.ventriq(["score", Self.sample, "--format", "xml"]).status == 2)
        #expect(try Self.ventriq(["frobnicate"]).status == 2)
        #expect(try Self.ventriq(["--help"]).status == 0)
    }

    @Test("inspect a record and a model; --verify checks checksums and golden vectors")
    func inspect() throws {
        let record = try Self.ventriq(["inspect", Self.sample, "--verify"])
        #expect(record.status == 0, "\(record.stderr)")
        #expect(record.stdout.contains("rate      500.0 Hz"))
        #expect(record.stdout.contains("format 16"))
        #expect(record.stdout.contains("checksums ok"))

        let model = try Self.ventriq(["inspect", "models/ventriq-compact.safetensors", "--verify", "--plan"])
        #expect(model.status == 0, "\(model.stderr)")
        #expect(model.stdout.contains("sha256    35ef50ea803d99a29718bec67d671e5cdc7312c5a76b42217f090aad6581f20b"))
        #expect(model.stdout.contains("golden embedding"))
        #expect(model.stdout.contains("verify    ok"))
        #expect(model.stdout.contains("lower bound"))
    }

    @Test("bad inputs: specific messages naming the file, exit 1")
    func badInputs() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A model with a corrupt header.
        let badModel = dir.appendingPathComponent("bad.safetensors")
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes[0] = 0xFF; bytes[1] = 0xFF; bytes[2] = 0xFF
        try Data(bytes + Array("{}".utf8)).write(to: badModel)
        let m = try Self.ventriq(["score", Self.sample, "--model", badModel.path, "--allow-unsigned"])
        #expect(m.status == 1)
        #expect(m.stderr.contains("bad.safetensors"))

        // A model whose config lacks a field.
        let copy = dir.appendingPathComponent("noconfig.safetensors")
        let run = try TestEnvironment.runPython("""
            import json, sys
            from safetensors.numpy import load_file, save_file
            from safetensors import safe_open
            src, dst = sys.argv[1], sys.argv[2]
            meta = safe_open(src, 'np').metadata()
            cfg = json.loads(meta['config']); del cfg['thresholds']
            meta['config'] = json.dumps(cfg)
            save_file(load_file(src), dst, metadata=meta)
            """, arguments: [TestEnvironment.defaultModel.path, copy.path])
        _ = run
        let c = try Self.ventriq(["score", Self.sample, "--model", copy.path, "--allow-unsigned"])
        #expect(c.status == 1)
        #expect(c.stderr.contains("model config field 'thresholds': missing"))

        // A CSV with a non-numeric cell.
        let csv = dir.appendingPathComponent("bad.csv")
        try "I,II\n0.1,0.2\n0.3,abc\n".write(to: csv, atomically: true, encoding: .utf8)
        let v = try Self.ventriq(["score", csv.path, "--rate", "500"] + Self.trust)
        #expect(v.status == 1)
        #expect(v.stderr.contains("bad.csv") && v.stderr.contains("line 3"))
    }

    @Test("signatures: the signed int8 default verifies; an unsigned model needs --allow-unsigned and warns")
    func signatures() throws {
        let untrusted = try Self.ventriq(["score", Self.sample])  // no trusted keys configured
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("not trusted") || untrusted.stderr.contains("untrusted"))
        let refused = try Self.ventriq(["score", Self.sample, "--model", "models/ventriq-compact.safetensors"] + Self.trust)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not signed") || refused.stderr.contains("unsigned"))
        let allowed = try Self.ventriq(["score", Self.sample] + Self.float)
        #expect(allowed.status == 0)
        #expect(allowed.stderr.contains("warning: ") && allowed.stderr.contains("--allow-unsigned"))
        let inspect = try Self.ventriq(["inspect", "models/ventriq-compact-int8.safetensors", "--verify"] + Self.trust)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("signature ok"))
        #expect(inspect.stdout.contains("quantized ventriq-int8-v1"))
    }

    @Test("keygen writes a key pair and refuses to overwrite it; quantize refuses to overwrite its input")
    func keygenAndQuantizeUsage() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let prefix = dir.appendingPathComponent("fleet").path
        let made = try Self.ventriq(["keygen", prefix])
        #expect(made.status == 0)
        #expect(FileManager.default.fileExists(atPath: prefix + ".key") && FileManager.default.fileExists(atPath: prefix + ".pub"))
        #expect(try Self.ventriq(["keygen", prefix]).status == 1)
        let same = try Self.ventriq(["quantize", "models/ventriq-compact.safetensors", "--calibration", "x", "--heldout", "y",
                                     "--output", "models/ventriq-compact.safetensors"])
        #expect(same.status == 2)
        #expect(same.stderr.contains("never overwrites"))
        let badKey = try Self.ventriq(["quantize", "models/ventriq-compact.safetensors", "--calibration", "x", "--heldout", "y",
                                       "--output", dir.appendingPathComponent("m.safetensors").path, "--sign", prefix + ".pub"])
        #expect(badKey.status == 1)
        #expect(badKey.stderr.contains("fleet.pub"))
    }

    @Test("--threads: the same results with 2 and 3 threads; bench reports the count; 0 and 65 are usage errors")
    func threads() throws {
        for model in [Self.trust, Self.float] {
            let one = try Self.ventriq(["score", "examples/recordings"] + model)
            #expect(one.status == 0, "\(one.stderr)")
            for threads in ["2", "3"] {
                let run = try Self.ventriq(["score", "examples/recordings", "--threads", threads] + model)
                #expect(run.status == 0, "\(run.stderr)")
                #expect(run.stdout == one.stdout, "score --threads \(threads) \(model)")
            }
        }
        // Stream lines compare up to their latency (the last field).
        let stream = ["stream", "--profile", "firmware-profiles/replay.toml", "--source", "replay:\(Self.sample)@max"] + Self.trust
        let oneStream = try Self.ventriq(stream)
        let twoStream = try Self.ventriq(stream + ["--threads", "2"])
        #expect(oneStream.status == 0 && twoStream.status == 0, "\(twoStream.stderr)")
        let scored = { (run: Run) in
            run.stdout.split(separator: "\n").filter { $0.contains("\"status\":\"scored\"") }.map { $0.components(separatedBy: ",\"latency_ms\"")[0] }
        }
        #expect(scored(oneStream).count == 2 && scored(twoStream) == scored(oneStream))

        let bench = try Self.ventriq(["bench", "--iterations", "10", "--warmup", "1", "--threads", "2"] + Self.trust)
        #expect(bench.status == 0, "\(bench.stderr)")
        #expect(bench.stdout.contains(", 2 threads\n"))
        #expect(bench.stdout.contains("allocations    0.00 per window (0 bytes)"))
        let json = try Self.ventriq(["bench", "--iterations", "10", "--warmup", "1", "--json"] + Self.trust)
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["threads"] as? Int == 1)

        for command in [["score", Self.sample], ["bench"], ["stream", "--profile", "firmware-profiles/replay.toml"]] {
            for bad in ["0", "65"] {
                let run = try Self.ventriq(command + ["--threads", bad] + Self.trust)
                #expect(run.status == 2, "\(command[0]) --threads \(bad)")
                #expect(run.stderr.contains("--threads must be between 1 and 64; got \(bad)"), "\(run.stderr)")
            }
        }
    }

    @Test("bench prints latency, allocations, arena and RSS")
    func bench() throws {
        let run = try Self.ventriq(["bench", "--iterations", "10", "--warmup", "1", "--json"] + Self.trust)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect(report["allocationsPerWindow"] as? Double == 0)
        #expect((report["engine"] as! [String: Any])["medianMs"] as! Double > 0)
        #expect(report["peakRSSBytes"] as! Int > 0)
        #expect(report["activationBytes"] as! Int >= report["activationLowerBoundBytes"] as! Int)
    }
}
