import Foundation
import Testing
import VentriqProfiles
import VentriqTestSupport

/// What `FirmwareProfile.validate(against:arenaBytes:)` reports against the default model.
@Suite struct ProfileValidationTests {
    typealias F = ProfileFixtures

    @Test func fixtureIsClean() throws {
        let issues = try F.issues(F.alsa)
        #expect(!issues.hasErrors, "\(issues)")
        #expect(issues.warnings.isEmpty, "\(issues)")
        #expect(issues.map(\.keyPath) == ["source.gain_uv_per_lsb", "leads.channels"])
    }

    @Test func hopLongerThanTheWindow() throws {
        let issues = try F.issues(try F.alsa(replacing: "hop_seconds = 1", with: "hop_seconds = 6"))
        let error = try F.onlyError(issues, at: "window.hop_seconds")
        #expect(error.message == "6 s exceeds the window (5 s): samples between windows would never be scored")
    }

    @Test(arguments: ["0", "-1", "0.0"])
    func hopNotPositive(hop: String) throws {
        let issues = try F.issues(try F.alsa(replacing: "hop_seconds = 1", with: "hop_seconds = \(hop)"))
        let error = try F.onlyError(issues, at: "window.hop_seconds")
        #expect(error.message.hasPrefix("must be greater than 0 s, found"))
        #expect(error.message.hasSuffix("\(Double(hop)! == 0 ? "0" : "-1") s"))
    }

    @Test func rateTheModelCannotUse() throws {
        let issues = try F.issues(try F.alsa(replacing: "sample_rate_hz = 500", with: "sample_rate_hz = 499.77"))
        let error = try F.onlyError(issues, at: "source.sample_rate_hz")
        #expect(error.message.hasPrefix("the model runs at 500 Hz and cannot use 499.77 Hz: "))
        #expect(error.message.contains("at most 1000"))
    }

    @Test func ratesTheModelCanUse() throws {
        for rate in ["250", "257", "360", "1000", "1024"] {
            let toml = try F.alsa(replacing: "sample_rate_hz = 500", with: "sample_rate_hz = \(rate)")
            let issues = try F.issues(toml)
            #expect(!issues.hasErrors, "\(rate) Hz: \(issues)")
        }
    }

    @Test func windowAndHopMustBeWholeFrames() throws {
        var toml = try F.alsa(replacing: "sample_rate_hz = 500", with: "sample_rate_hz = 257")
        toml = toml.replacingOccurrences(of: "hop_seconds = 1", with: "hop_seconds = 0.5")
        let error = try F.onlyError(try F.issues(toml), at: "window.hop_seconds")
        #expect(error.message == "0.5 s at 257 Hz is 128.5 frames, not a whole number")
    }

    @Test func missingLeads() throws {
        var toml = try F.alsa(replacing: "[\"I\", \"II\", \"V1\", \"V2\", \"V3\", \"V4\", \"V5\", \"V6\"]",
                              with: "[\"V1\", \"V2\", \"V3\", \"V4\", \"V5\", \"V6\"]")
        toml = toml.replacingOccurrences(of: "channels = 8", with: "channels = 6")
        let error = try F.onlyError(try F.issues(toml), at: "leads.channels")
        #expect(error.message.hasPrefix("missing leads I, II, III, aVR, aVL, aVF that the model needs"))
    }

    @Test func onlyOneOfIAndIIMeansNoDerivedLeads() throws {
        let toml = try F.alsa(replacing: "[\"I\", \"II\",", with: "[\"I\", \"-\",")
        let error = try F.onlyError(try F.issues(toml), at: "leads.channels")
        #expect(error.message.hasPrefix("missing leads II, III, aVR, aVL, aVF that the model needs"))
    }

    @Test func duplicateLeads() throws {
        var toml = try F.alsa(replacing: "\"V5\", \"V6\"]", with: "\"V5\", \"V6\", \"D2\"]")
        toml = toml.replacingOccurrences(of: "channels = 8", with: "channels = 9")
        let error = try F.onlyError(try F.issues(toml), at: "leads.channels")
        #expect(error.message == "duplicate lead II: channels \"II\" and \"D2\" both map to it")
    }

    @Test func duplicateLeadAlsoReportsTheLeadItDisplaced() throws {
        let toml = try F.alsa(replacing: "\"V5\", \"V6\"]", with: "\"V5\", \"lead ii\"]")
        let errors = try F.issues(toml).errors
        #expect(errors.map(\.keyPath) == ["leads.channels", "leads.channels"])
        #expect(errors.first?.message == "duplicate lead II: channels \"II\" and \"lead ii\" both map to it")
        #expect(errors.last?.message.hasPrefix("missing leads V6 that the model needs") == true)
    }

    @Test func unknownLeadName() throws {
        let toml = try F.alsa(replacing: "\"V6\"]", with: "\"V7\"]")
        let errors = try F.issues(toml).errors
        #expect(errors.count == 2)
        #expect(errors.first?.message.hasPrefix("unknown lead names \"V7\"") == true)
        #expect(errors.last?.message.hasPrefix("missing leads V6") == true)
    }

    @Test func unusedChannelIsAllowed() throws {
        var toml = try F.alsa(replacing: "\"V6\"]", with: "\"V6\", \"-\"]")
        toml = toml.replacingOccurrences(of: "channels = 8", with: "channels = 9")
        let profile = try FirmwareProfile(toml: toml, source: "t")
        #expect(!profile.validate(against: try F.defaultConfig(), arenaBytes: nil).hasErrors)
        #expect(profile.channelCount == 9)
    }

    @Test func thresholdForAnUnknownDisease() throws {
        let toml = F.alsa + "\n[thresholds]\nstroke = 0.3\n"
        let error = try F.onlyError(try F.issues(toml), at: "thresholds.stroke")
        #expect(error.message == "the model has no disease \"stroke\" (it has cad, af, scd, hf, mi, cardiomyopathy)")
    }

    @Test func thresholdSuggestsADisease() throws {
        let error = try F.onlyError(try F.issues(F.alsa + "\n[thresholds]\ncardiomiopathy = 0.4\n"), at: "thresholds.cardiomiopathy")
        #expect(error.message.hasSuffix("did you mean cardiomyopathy?"))
    }

    @Test(arguments: ["1.5", "-0.1", "nan"])
    func thresholdOutsideZeroOne(value: String) throws {
        let error = try F.onlyError(try F.issues(F.alsa + "\n[thresholds]\naf = \(value)\n"), at: "thresholds.af")
        #expect(error.message == "\(value == "1.5" ? "1.5" : value == "nan" ? "nan" : "-0.1") is not a probability in [0, 1]")
    }

    @Test func thresholdsAtTheBoundsAreFine() throws {
        #expect(!(try F.issues(F.alsa + "\n[thresholds]\naf = 0\nmi = 1\n")).hasErrors)
    }

    @Test func memoryBudgetTooSmall() throws {
        let toml = try F.alsa(replacing: "memory_bytes = 8388608", with: "memory_bytes = 1000000")
        let error = try F.onlyError(try F.issues(toml), at: "budgets.memory_bytes")
        #expect(error.message == "1000000 bytes is less than the arena (2445248 bytes) + the ring "
            + "(480000 bytes = 30 s x 500 Hz x 8 channels x 4 bytes) = 2925248 bytes")
    }

    @Test func memoryBudgetBoundary() throws {
        // 2,445,248 (arena) + 480,000 (ring) bytes exactly is enough; one byte less is not.
        let enough = try F.alsa(replacing: "memory_bytes = 8388608", with: "memory_bytes = 2925248")
        #expect(!(try F.issues(enough)).hasErrors)
        let short = try F.alsa(replacing: "memory_bytes = 8388608", with: "memory_bytes = 2925247")
        _ = try F.onlyError(try F.issues(short), at: "budgets.memory_bytes")
        // Without a known arena only the ring counts.
        #expect(!(try F.issues(short, arenaBytes: nil)).hasErrors)
        let tiny = try F.alsa(replacing: "memory_bytes = 8388608", with: "memory_bytes = 400000")
        let error = try F.onlyError(try F.issues(tiny, arenaBytes: nil), at: "budgets.memory_bytes")
        #expect(error.message == "400000 bytes is less than the ring (480000 bytes = 30 s x 500 Hz x 8 channels x 4 bytes)")
    }

    @Test(arguments: ["4", "10", "5.5"])
    func windowOtherThanTheModels(seconds: String) throws {
        let issues = try F.issues(try F.alsa(replacing: "\nseconds = 5\n", with: "\nseconds = \(seconds)\n"))
        let error = try F.onlyError(issues, at: "window.seconds")
        #expect(error.message == "\(seconds) s, but the model's window is 5 s (2500 samples at 500 Hz)")
    }

    @Test func channelsDifferFromTheLeads() throws {
        let error = try F.onlyError(try F.issues(try F.alsa(replacing: "channels = 8", with: "channels = 9")), at: "source.channels")
        #expect(error.message == "9 channels, but leads.channels names 8 (one lead name per channel, in frame order)")
    }

    @Test func latencyBudgetAtOrAboveTheHop() throws {
        let slow = try F.issues(try F.alsa(replacing: "latency_ms = 500", with: "latency_ms = 1000"))
        #expect(!slow.hasErrors)
        let warning = try #require(slow.warnings.first)
        #expect(slow.warnings.count == 1)
        #expect(warning.keyPath == "budgets.latency_ms")
        #expect(warning.message == "1000 ms is not below the hop (1000 ms): results could queue up")
        let fast = try F.issues(try F.alsa(replacing: "latency_ms = 500", with: "latency_ms = 999.5"))
        #expect(fast.warnings.isEmpty)
    }

    @Test func alsaCannotCaptureFloats() throws {
        let error = try F.onlyError(try F.issues(try F.alsa(replacing: "\"S16_LE\"", with: "\"FLOAT_LE\"")), at: "source.format")
        #expect(error.message == "ALSA capture supports S16_LE and S32_LE, found FLOAT_LE")
    }

    @Test func ringMustExceedTheWindow() throws {
        let error = try F.onlyError(try F.issues(try F.alsa(replacing: "ring_seconds = 30", with: "ring_seconds = 5")),
                                    at: "budgets.ring_seconds")
        #expect(error.message == "5 s must exceed the window (5 s)")
        let short = try F.issues(try F.alsa(replacing: "ring_seconds = 30", with: "ring_seconds = 5.5"))
        #expect(!short.hasErrors)
        #expect(short.warnings.map(\.keyPath) == ["budgets.ring_seconds"])
    }

    @Test func outOfRangeValues() throws {
        var toml = try F.alsa(replacing: "gain_uv_per_lsb = 2.5", with: "gain_uv_per_lsb = 0\nperiod_frames = 600\nbuffer_frames = 1000")
        toml = toml.replacingOccurrences(of: "adc_bits = 16", with: "adc_bits = 20")
        toml = toml.replacingOccurrences(of: "latency_ms = 500", with: "latency_ms = -5")
        toml = toml.replacingOccurrences(of: "name = \"test-cart\"", with: "name = \" \"")
        let errors = try F.issues(toml).errors
        #expect(errors.map(\.keyPath) == ["device.name", "source.adc_bits", "source.gain_uv_per_lsb",
                                          "source.buffer_frames", "budgets.latency_ms"])
        #expect(errors[1].message == "must be 16, 24 or 32, found 20")
        #expect(errors[3].message == "1000 frames hold fewer than two periods of 600 frames")
    }

    @Test func adcBitsMustFitTheFormat() throws {
        let error = try F.onlyError(try F.issues(try F.alsa(replacing: "adc_bits = 16", with: "adc_bits = 24")), at: "source.adc_bits")
        #expect(error.message == "24 bits do not fit the 16-bit samples of S16_LE")
    }

    @Test func smallFullScaleWarns() throws {
        let issues = try F.issues(try F.alsa(replacing: "gain_uv_per_lsb = 2.5", with: "gain_uv_per_lsb = 0.1"))
        #expect(!issues.hasErrors)
        let warning = try #require(issues.warnings.first)
        #expect(warning.keyPath == "source.gain_uv_per_lsb")
        #expect(warning.message.hasPrefix("±3.2768 mV full scale (16-bit ADC x 0.1 uV/LSB) is below ±5 mV"))
    }

    @Test func unresolvedReplayDefersTheRateChecks() throws {
        let profile = try FirmwareProfile(toml: """
            [device]
            name = "replay"
            [source]
            kind = "replay"
            [leads]
            channels = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
            [window]
            seconds = 5
            hop_seconds = 5
            [budgets]
            memory_bytes = 3000000
            """, source: "t")
        let config = try F.defaultConfig()
        let issues = profile.validate(against: config, arenaBytes: F.defaultArenaBytes)
        #expect(!issues.hasErrors)
        #expect(issues.contains { $0.severity == .info && $0.keyPath == "source" && $0.message.contains("resolvedForReplay") })
        // A recording with 12 channels for 8 lead names, at a rate the model cannot use, over budget.
        let resolved = profile.resolvedForReplay(sampleRateHz: 499.77, channelNames: Array(repeating: "x", count: 12))
        #expect(resolved.validate(against: config, arenaBytes: F.defaultArenaBytes).errors.map(\.keyPath)
            == ["source.sample_rate_hz", "source.channels"])
        let fast = profile.resolvedForReplay(sampleRateHz: 1000, channelNames: Array(repeating: "x", count: 8))
        let memory = try F.onlyError(fast.validate(against: config, arenaBytes: F.defaultArenaBytes), at: "budgets.memory_bytes")
        #expect(memory.message.contains("(960000 bytes = 30 s x 1000 Hz x 8 channels x 4 bytes) = 3405248 bytes"))
    }
}
