import Foundation
import Testing
import Ventriq
import VentriqTestSupport

/// `ventriq stream` and `ventriq profile validate` as a device daemon runs them.
@Suite("ventriq stream and profile", .serialized)
struct StreamCommandTests {
    static let trust = CommandLineTests.trust
    static let replay = ["--profile", "firmware-profiles/replay.toml"]

    @Test("replay at full speed: one line per window, then the summary; every window accounted for")
    func replayLines() throws {
        let run = try CommandLineTests.ventriq(["stream"] + Self.replay + ["--source", "replay:\(CommandLineTests.sample)@max"] + Self.trust)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = try run.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 3)
        #expect(lines[0]["status"] as? String == "scored")
        let summary = lines[2]["summary"] as! [String: Any]
        #expect(summary["windows"] as? Int == 2 && summary["scored"] as? Int == 2)
        // Resident memory after start-up is taken after 10 scored windows: null before that,
        // never a misleading 0.
        let rss = try #require(summary["rss_bytes"] as? [String: Any])
        #expect(rss["after_start"] is NSNull, "\(rss)")
        #expect((rss["end"] as? Int ?? 0) > 1 << 20)

        let long = try CommandLineTests.ventriq(
            ["stream"] + Self.replay + ["--source", "replay:\(CommandLineTests.sample)@max", "--repeat", "6"] + Self.trust)
        #expect(long.status == 0, "\(long.stderr)")
        let last = try JSONSerialization.jsonObject(with: Data(long.stdout.split(separator: "\n").last!.utf8)) as! [String: Any]
        let longSummary = try #require(last["summary"] as? [String: Any])
        #expect(longSummary["scored"] as? Int == 12)
        let longRSS = try #require(longSummary["rss_bytes"] as? [String: Any])
        #expect((longRSS["after_start"] as? Int ?? 0) > 1 << 20, "\(longRSS)")
    }

    @Test("SIGINT ends a real-time stream with the summary line after flushing, exit 0")
    func interrupt() throws {
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["stream"] + Self.replay + ["--source", "replay:\(CommandLineTests.sample)@1x", "--repeat", "100"] + Self.trust
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        Thread.sleep(forTimeInterval: 6.5)  // one 5 s window at real time
        kill(process.processIdentifier, SIGINT)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        let summary = try #require(last["summary"] as? [String: Any])
        #expect((summary["scored"] as? Int ?? 0) >= 1)
        #expect(lines.count == (summary["windows"] as! Int) + 1)
    }

    @Test("bad profiles and sources: specific messages, exit 1 or 2")
    func badInputs() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let profile = dir.appendingPathComponent("bad.toml")
        var text = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("firmware-profiles/replay.toml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "hop_seconds", with: "hop_secs")
        try text.write(to: profile, atomically: true, encoding: .utf8)
        let unknown = try CommandLineTests.ventriq(["profile", "validate", profile.path] + Self.trust)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("hop_secs") && unknown.stderr.contains("hop_seconds"))

        let absent = try CommandLineTests.ventriq(["stream", "--profile", "firmware-profiles/cart-8ch-500hz.toml", "--source", "alsa:nosuchdevice"] + Self.trust)
        #expect(absent.status == 1)
        #expect(absent.stderr.contains("nosuchdevice"))

        let wrong = try CommandLineTests.ventriq(["stream"] + Self.replay + ["--source", "carrier-pigeon"] + Self.trust)
        #expect(wrong.status == 2)
        let speed = try CommandLineTests.ventriq(["stream"] + Self.replay + ["--source", "replay:\(CommandLineTests.sample)@fast"] + Self.trust)
        #expect(speed.status == 2)
        #expect(speed.stderr.contains("speed"))
    }

    @Test("ALSA capture through the file plugin: the 8-channel cart profile derives the limb leads; the zero padding after the file is a gap, never scored")
    func alsaFileDevice() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 12 s of a cart's 8 channels (I, II, V1-V6) from the sample recording, S16_LE at 2.5 uV/LSB.
        let recording = try RecordingReader.read(TestEnvironment.repositoryRoot.appendingPathComponent(CommandLineTests.sample))
        let order = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"].map { n in recording.channels.first { $0.name == n }! }
        var raw = [UInt8]()
        for i in 0..<6000 {
            for c in order {
                let v = Int16(max(-32768, min(32767, (Double(c.samples[i % 5000]) * 1000 / 2.5).rounded())))
                withUnsafeBytes(of: v.littleEndian) { raw += $0 }
            }
        }
        let rawURL = dir.appendingPathComponent("cart.raw")
        try Data(raw).write(to: rawURL)
        let config = dir.appendingPathComponent("asound.conf")
        let text = "pcm.ecgsim {\n type file\n slave.pcm { type null }\n file \"/dev/null\"\n infile \"\(rawURL.path)\"\n format \"raw\"\n}\n"
        try text.write(to: config, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.jsonl")
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["stream", "--profile", "firmware-profiles/cart-8ch-500hz.toml", "--source", "alsa:ecgsim",
                             "--output", out.path] + Self.trust
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(["ALSA_CONFIG_PATH": config.path]) { $1 }
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let summary = try #require(lines.last?["summary"] as? [String: Any])
        // Windows every 1 s over 12 s of data: those starting at 0...7 s lie in the data (8); the
        // ones reaching into the zero padding after it are dropped as source gaps, never scored.
        #expect(summary["scored"] as? Int == 8)
        #expect(((summary["dropped"] as! [String: Int])["source_gap"] ?? 0) >= 1)
        #expect(summary["windows"] as? Int == lines.count - 1)
        #expect(lines[0]["status"] as? String == "scored")
        #expect((lines[0]["quality"] as! [String: String]).count == 12)
    }

    @Test("the shipped profiles validate against the default model")
    func shippedProfiles() throws {
        for name in ["cart-8ch-500hz", "device-12ch-1khz", "replay"] {
            let run = try CommandLineTests.ventriq(["profile", "validate", "firmware-profiles/\(name).toml"] + Self.trust)
            #expect(run.status == 0, "\(name): \(run.stdout) \(run.stderr)")
            #expect(run.stdout.contains("ok for model ventriq-compact"))
        }
    }

    @Test("stdin source: int16 frames from a pipe, a 12-channel 1 kHz device profile")
    func stdinSource() throws {
        // 6 s of a 1 Hz sine on 12 channels at 1 kHz, S32_LE per the device profile's gain.
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["stream", "--profile", "firmware-profiles/device-12ch-1khz.toml", "--source", "stdin"] + Self.trust
        process.currentDirectoryURL = TestEnvironment.repositoryRoot
        let input = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var bytes = [UInt8]()
        for i in 0..<6000 {
            let v = Int32(sin(Double(i) / 1000 * 2 * .pi) * 1.0 / (0.047683716 / 1000))  // 1 mV
            for _ in 0..<12 { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        }
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let summary = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        let s = summary["summary"] as! [String: Any]
        // 6 s, 5 s windows every 2.5 s: one window (a sine is flat-free but identical on all
        // leads; the quality gate may hold it back, and says so).
        #expect(s["windows"] as? Int == 1)
        #expect(lines.count == 2)
    }
}
