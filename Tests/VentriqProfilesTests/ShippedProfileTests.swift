import Foundation
import Testing
import VentriqModel
import VentriqProfiles
import VentriqSignal
import VentriqTestSupport

/// The profiles in firmware-profiles/ load, validate clean against the default model and carry
/// the values the streamer will use.
@Suite struct ShippedProfileTests {
    @Test(arguments: ProfileFixtures.shippedNames)
    func loadsAndValidatesClean(name: String) throws {
        let url = ProfileFixtures.profilesDirectory.appendingPathComponent(name)
        let profile = try FirmwareProfile.load(contentsOf: url)
        #expect(profile.file == url.path)
        let issues = profile.validate(against: try ProfileFixtures.defaultConfig(), arenaBytes: ProfileFixtures.defaultArenaBytes)
        #expect(issues.errors.isEmpty, "\(issues)")
        #expect(issues.warnings.isEmpty, "\(issues)")
        #expect(profile.ignoredKeys.isEmpty)
        #expect(profile.window.seconds == 5)
        #expect(profile.quality.gate)
    }

    @Test func cart() throws {
        let profile = try FirmwareProfile.load(
            contentsOf: ProfileFixtures.profilesDirectory.appendingPathComponent("cart-8ch-500hz.toml"))
        let config = try ProfileFixtures.defaultConfig()
        #expect(profile.source.kind == .alsa)
        #expect(profile.source.device == "hw:1,0")
        #expect(profile.source.format == .s16LE)
        #expect(profile.sampleRateHz == 500)
        #expect(profile.channelCount == 8)
        #expect(profile.channelNames == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"])
        #expect(profile.window.hopSeconds == 1)
        #expect(profile.hopFrames(at: 500) == 500)
        #expect(profile.windowFrames(at: 500) == 2500)
        #expect(profile.ringFrames == 15_000)
        #expect(profile.ringBytes == 15_000 * 8 * 4)
        #expect(profile.effectivePeriodFrames == 50)
        #expect(profile.effectiveBufferFrames == 1000)
        #expect(profile.bytesPerFrame == 16)
        #expect(profile.millivoltsPerUnit == 0.0025)
        #expect(profile.fullScaleMillivolts == 81.92)
        #expect(profile.output.sinks == [.file(path: "/var/log/ventriq/cart-8ch.jsonl")])
        #expect(profile.budgets.memoryBytes == 8_388_608)
        #expect(profile.budgets.latencyMilliseconds == 500)

        let issues = profile.validate(against: config, arenaBytes: ProfileFixtures.defaultArenaBytes)
        // The limb leads the cart lacks are derived (an info, not a warning), and the full scale is reported.
        let leads = try #require(issues.first { $0.keyPath == "leads.channels" })
        #expect(leads.severity == .info)
        #expect(leads.message.contains("III, aVR, aVL, aVF are derived from I and II"))
        let range = try #require(issues.first { $0.keyPath == "source.gain_uv_per_lsb" })
        #expect(range.severity == .info)
        #expect(range.message.contains("±81.92 mV full scale"))

        let map = try profile.leadMap(modelLeads: config.architecture.leads)
        #expect(map.derivedLeads == ["III", "aVR", "aVL", "aVF"])
        #expect(profile.effectiveThresholds(for: config) == config.thresholds)
    }

    @Test func twelveLeadDevice() throws {
        let profile = try FirmwareProfile.load(
            contentsOf: ProfileFixtures.profilesDirectory.appendingPathComponent("device-12ch-1khz.toml"))
        let config = try ProfileFixtures.defaultConfig()
        #expect(profile.source.kind == .fd)
        #expect(profile.source.format == .s32LE)
        #expect(profile.sampleRateHz == 1000)
        #expect(profile.channelCount == 12)
        #expect(profile.hopFrames(at: 1000) == 2500)
        #expect(profile.hopFrames(at: config.architecture.fsHz) == 1250)
        #expect(profile.windowFrames(at: 1000) == 5000)
        #expect(profile.ringFrames == 30_000)
        #expect(profile.bytesPerFrame == 48)
        #expect(abs(try #require(profile.fullScaleMillivolts) - 400) < 1e-3)
        let map = try profile.leadMap(modelLeads: config.architecture.leads)
        #expect(map.derivedLeads.isEmpty)
        #expect(map.sources == (0 ..< 12).map { LeadMap.Source.channel($0) })
    }

    @Test func replay() throws {
        let profile = try FirmwareProfile.load(contentsOf: ProfileFixtures.profilesDirectory.appendingPathComponent("replay.toml"))
        let config = try ProfileFixtures.defaultConfig()
        #expect(profile.source.kind == .replay)
        #expect(profile.sampleRateHz == nil)
        #expect(profile.channelLeads == nil)
        // Non-overlapping 5 s windows: the windows `ventriq score` scores.
        #expect(profile.window.seconds == config.window.seconds)
        #expect(profile.window.hopSeconds == profile.window.seconds)
        #expect(profile.quality.gate)
        #expect(profile.output.sinks == [.stdout])

        // Completed with a bundled recording's header (rate and channel names), it still validates clean.
        let header = try String(
            contentsOf: TestEnvironment.recordingsDirectory.appendingPathComponent("anterior_mi_00190.hea"), encoding: .utf8)
        let lines = header.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let channelCount = try #require(Int(lines[0][1]))
        let rate = try #require(Double(lines[0][2]))
        let names = lines[1 ... channelCount].map { $0.last! }
        let resolved = profile.resolvedForReplay(sampleRateHz: rate, channelNames: names)
        #expect(resolved.sampleRateHz == 500)
        #expect(resolved.channelCount == 12)
        #expect(resolved.channelNames == names)
        #expect(resolved.hopFrames(at: rate) == config.window.samples)
        let issues = resolved.validate(against: config, arenaBytes: ProfileFixtures.defaultArenaBytes)
        #expect(issues.errors.isEmpty && issues.warnings.isEmpty, "\(issues)")
        // Resolution changes nothing but the rate, the channels and their names.
        var back = resolved
        back.source.sampleRateHz = nil
        back.source.channels = nil
        back.channelLeads = nil
        #expect(back == profile)
    }
}
