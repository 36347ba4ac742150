import Foundation
import Testing
import VentriqProfiles
import VentriqTestSupport

/// What `FirmwareProfile.init(toml:source:)` refuses, and the messages it gives.
@Suite struct ProfileLoadingTests {
    @Test func fixtureLoads() throws {
        let profile = try FirmwareProfile(toml: ProfileFixtures.alsa, source: "cart.toml")
        #expect(profile.file == "cart.toml")
        #expect(profile.device == FirmwareProfile.Device(name: "test-cart"))
        #expect(profile.source == FirmwareProfile.Source(
            kind: .alsa, device: "hw:1,0", format: .s16LE, sampleRateHz: 500, channels: 8, adcBits: 16,
            gainMicrovoltsPerLSB: 2.5))
        #expect(profile.window == FirmwareProfile.Window(seconds: 5, hopSeconds: 1))
        #expect(profile.budgets == FirmwareProfile.Budgets(latencyMilliseconds: 500, memoryBytes: 8_388_608, ringSeconds: 30))
        #expect(profile.thresholds.isEmpty)
    }

    @Test func unknownKeyWithSuggestion() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "sample_rate_hz = 500", with: "sampel_rate_hz = 500"), source: "cart.toml")
        #expect(error.keyPath == "source.sampel_rate_hz")
        #expect(error.message == "unknown key (did you mean sample_rate_hz?)")
        #expect(error.description == "cart.toml: source.sampel_rate_hz: unknown key (did you mean sample_rate_hz?)")
    }

    @Test func unknownKeyInTheWrongTable() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "gate = true", with: "gate = true\nhop_seconds = 2"))
        #expect(error.keyPath == "quality.hop_seconds")
        #expect(error.message.contains("did you mean window.hop_seconds?"))
    }

    @Test func unknownTable() throws {
        let error = try ProfileFixtures.loadError(try ProfileFixtures.alsa(replacing: "[budgets]", with: "[budget]"))
        #expect(error.keyPath == "budget")
        #expect(error.message == "unknown table (did you mean [budgets]?)")
    }

    @Test func unknownSubtable() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "[output]", with: "[output.file]\npath = \"x\"\n[output]"))
        #expect(error.keyPath == "output.file")
        #expect(error.message == "unknown table (output takes sinks)")
    }

    @Test func wrongType() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "sample_rate_hz = 500", with: "sample_rate_hz = \"500\""))
        #expect(error.keyPath == "source.sample_rate_hz")
        #expect(error.message == "expected a number, found \"500\" (a string)")
    }

    @Test func wrongTypeForAnInteger() throws {
        let error = try ProfileFixtures.loadError(try ProfileFixtures.alsa(replacing: "channels = 8", with: "channels = 8.5"))
        #expect(error.keyPath == "source.channels")
        #expect(error.message == "expected an integer, found 8.5 (a floating-point number)")
    }

    @Test func wrongTypeInAnArray() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "[\"I\", \"II\", \"V1\"", with: "[\"I\", 2, \"V1\""))
        #expect(error.keyPath == "leads.channels[1]")
        #expect(error.message == "expected a string, found 2 (an integer)")
    }

    @Test func tableGivenAsAValue() throws {
        let error = try ProfileFixtures.loadError(
            "quality = true\n" + (try ProfileFixtures.alsa(replacing: "[quality]\ngate = true\n", with: "")))
        #expect(error.keyPath == "quality")
        #expect(error.message == "expected a table, found true (a boolean)")
    }

    @Test func unknownEnumerationValue() throws {
        let error = try ProfileFixtures.loadError(try ProfileFixtures.alsa(replacing: "\"S16_LE\"", with: "\"S16LE\""))
        #expect(error.keyPath == "source.format")
        #expect(error.message == "expected one of \"S16_LE\", \"S32_LE\", \"FLOAT_LE\", found \"S16LE\" (did you mean \"S16_LE\"?)")
    }

    @Test func badSink() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "[\"stdout\"]", with: "[\"stdout\", \"syslog\"]"))
        #expect(error.keyPath == "output.sinks[1]")
        #expect(error.message.contains("expected \"stdout\" or \"file:<path>\", found \"syslog\""))
    }

    @Test func missingRequiredKey() throws {
        let error = try ProfileFixtures.loadError(try ProfileFixtures.alsa(replacing: "hop_seconds = 1\n", with: ""))
        #expect(error.keyPath == "window.hop_seconds")
        #expect(error.message == "missing required key")
    }

    @Test func missingRequiredKeysAreNamedTogether() throws {
        var toml = try ProfileFixtures.alsa(replacing: "name = \"test-cart\"\n", with: "")
        toml = toml.replacingOccurrences(of: "seconds = 5\n", with: "")
        let error = try ProfileFixtures.loadError(toml)
        #expect(error.keyPath == "device.name")
        #expect(error.message == "missing required keys device.name, window.seconds")
    }

    @Test func alsaWithoutDevice() throws {
        let error = try ProfileFixtures.loadError(try ProfileFixtures.alsa(replacing: "device = \"hw:1,0\"\n", with: ""))
        #expect(error.keyPath == "source.device")
        #expect(error.message == "missing required key (required when source.kind = \"alsa\")")
    }

    @Test func fdWithAnIntegerFormatNeedsAGain() throws {
        var toml = try ProfileFixtures.alsa(replacing: "kind = \"alsa\"\ndevice = \"hw:1,0\"\n", with: "kind = \"fd\"\n")
        toml = toml.replacingOccurrences(of: "gain_uv_per_lsb = 2.5\n", with: "")
        let error = try ProfileFixtures.loadError(toml)
        #expect(error.keyPath == "source.gain_uv_per_lsb")
        #expect(error.message.contains("with the integer format S16_LE"))
        // FLOAT_LE samples are millivolts and need no gain.
        let float = try FirmwareProfile(toml: toml.replacingOccurrences(of: "\"S16_LE\"", with: "\"FLOAT_LE\""), source: "t")
        #expect(float.source.format == .floatLE)
        #expect(float.millivoltsPerUnit == 1)
    }

    @Test func alsaWithoutLeads() throws {
        let error = try ProfileFixtures.loadError(
            try ProfileFixtures.alsa(replacing: "channels = [\"I\", \"II\", \"V1\", \"V2\", \"V3\", \"V4\", \"V5\", \"V6\"]\n", with: ""))
        #expect(error.keyPath == "leads.channels")
        #expect(error.message.contains("required when source.kind = \"alsa\""))
    }

    @Test func syntaxErrorHasTheLine() throws {
        let toml = try ProfileFixtures.alsa(replacing: "channels = 8\n", with: "channels = = 8\n")
        let error = try ProfileFixtures.loadError(toml, source: "bad.toml")
        let expectedLine = toml.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.hasPrefix("channels = = 8") }.map { $0 + 1 }
        #expect(error.line == expectedLine)
        #expect(error.keyPath.isEmpty)
        #expect(error.message.hasPrefix("not valid TOML"))
        #expect(error.description.hasPrefix("bad.toml:\(expectedLine ?? 0):"))
    }

    @Test func unreadableFile() throws {
        let url = URL(fileURLWithPath: "/nonexistent/ventriq/profile.toml")
        do throws(ProfileError) {
            _ = try FirmwareProfile.load(contentsOf: url)
            Issue.record("loaded a file that does not exist")
        } catch {
            #expect(error.file == url.path)
            #expect(error.message.hasPrefix("cannot read the profile"))
        }
    }

    @Test func defaults() throws {
        let profile = try FirmwareProfile(toml: """
            [device]
            name = "minimal"
            [source]
            kind = "replay"
            [window]
            seconds = 5
            hop_seconds = 2.5
            """, source: "minimal.toml")
        #expect(profile.budgets == FirmwareProfile.Budgets(latencyMilliseconds: nil, memoryBytes: nil, ringSeconds: 30))
        #expect(profile.quality.gate)
        #expect(profile.output.sinks == [.stdout])
        #expect(profile.thresholds.isEmpty)
        #expect(profile.channelLeads == nil)
        #expect(profile.channelCount == 0)
        #expect(profile.ringFrames == 0)
        #expect(profile.resolvedForReplay(sampleRateHz: 360, channelNames: ["MLII", "V5"]).ringFrames == 10_800)
    }

    @Test func thresholdsAndSinksAreRead() throws {
        let toml = try ProfileFixtures.alsa(replacing: "[output]\nsinks = [\"stdout\"]", with: """
            [thresholds]
            af = 0.05
            mi = 1

            [output]
            sinks = ["stdout", "file:/var/log/ventriq/stream.jsonl"]
            """)
        let profile = try FirmwareProfile(toml: toml, source: "t")
        #expect(profile.thresholds == ["af": 0.05, "mi": 1])
        #expect(profile.output.sinks == [.stdout, .file(path: "/var/log/ventriq/stream.jsonl")])
        let config = try ProfileFixtures.defaultConfig()
        let merged = profile.effectiveThresholds(for: config)
        #expect(merged["af"] == 0.05)
        #expect(merged["mi"] == 1)
        #expect(merged["cad"] == config.thresholds["cad"])
        #expect(merged.count == config.diseases.count)
    }

    @Test func replayIgnoresCaptureKeys() throws {
        let profile = try FirmwareProfile(toml: """
            [device]
            name = "replay"
            [source]
            kind = "replay"
            sample_rate_hz = 250
            format = "S16_LE"
            [window]
            seconds = 5
            hop_seconds = 5
            """, source: "t")
        #expect(profile.ignoredKeys == ["source.format", "source.sample_rate_hz"])
        #expect(profile.sampleRateHz == nil)
        #expect(profile.source.format == nil)
        let issues = profile.validate(against: try ProfileFixtures.defaultConfig(), arenaBytes: nil)
        #expect(issues.errors.isEmpty)
        #expect(issues.warnings.map(\.keyPath) == ["source.format", "source.sample_rate_hz"])
        #expect(issues.warnings.allSatisfy { $0.message.contains("not used by replay sources") })
    }
}
