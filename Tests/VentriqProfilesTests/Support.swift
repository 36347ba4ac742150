import Foundation
import Testing
import VentriqModel
import VentriqProfiles
import VentriqTestSupport

/// Shared inputs of the profile tests.
enum ProfileFixtures {
    /// `firmware-profiles/` in the repository.
    static var profilesDirectory: URL { TestEnvironment.repositoryRoot.appendingPathComponent("firmware-profiles") }

    /// The shipped profile files.
    static let shippedNames = ["cart-8ch-500hz.toml", "device-12ch-1khz.toml", "replay.toml"]

    /// The default model's planned arena in bytes (README.md, `ventriq inspect` of
    /// models/ventriq-compact.safetensors): activations 936000 + weights 1509248.
    static let defaultArenaBytes = 2_445_248

    /// The default model's config (12 leads, 2500 samples at 500 Hz, diseases cad, af, scd, hf,
    /// mi, cardiomyopathy).
    static func defaultConfig() throws -> ModelConfig {
        try Model(contentsOf: TestEnvironment.defaultModel).config
    }

    /// A valid ALSA profile that each bad-input test breaks in one place.
    static let alsa = """
        [device]
        name = "test-cart"

        [source]
        kind = "alsa"
        device = "hw:1,0"
        format = "S16_LE"
        sample_rate_hz = 500
        channels = 8
        adc_bits = 16
        gain_uv_per_lsb = 2.5

        [leads]
        channels = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]

        [window]
        seconds = 5
        hop_seconds = 1

        [budgets]
        latency_ms = 500
        memory_bytes = 8388608
        ring_seconds = 30

        [quality]
        gate = true

        [output]
        sinks = ["stdout"]

        """

    /// `alsa` with `old` replaced by `new` (the test fails when `old` is not in the text, so a
    /// replacement can never silently leave the profile valid).
    static func alsa(replacing old: String, with new: String) throws -> String {
        try #require(alsa.contains(old), "fixture lacks \(old)")
        return alsa.replacingOccurrences(of: old, with: new)
    }

    /// The ProfileError that parsing `toml` throws (the test fails when it parses).
    static func loadError(_ toml: String, source: String = "test.toml") throws -> ProfileError {
        do throws(ProfileError) {
            let profile = try FirmwareProfile(toml: toml, source: source)
            Issue.record("expected a ProfileError, parsed \(profile)")
        } catch {
            return error
        }
        throw ExpectedFailure()
    }

    /// The issues of `toml` validated against the default model.
    static func issues(_ toml: String, arenaBytes: Int? = defaultArenaBytes) throws -> [ProfileIssue] {
        try FirmwareProfile(toml: toml, source: "test.toml").validate(against: defaultConfig(), arenaBytes: arenaBytes)
    }

    /// The only error among `issues` at `keyPath` (the test fails unless there is exactly one error,
    /// and it is there).
    static func onlyError(_ issues: [ProfileIssue], at keyPath: String) throws -> ProfileIssue {
        let errors = issues.errors
        try #require(errors.count == 1, "expected one error, got \(issues)")
        #expect(errors[0].keyPath == keyPath)
        return errors[0]
    }
}

/// Thrown by a fixture helper after it recorded why the test cannot go on.
struct ExpectedFailure: Error {}
