import VentriqModel
import VentriqSignal

/// One device's firmware profile: where samples come from (ALSA capture, a file descriptor or a
/// replayed recording), their rate, format, gain and channel-to-lead map, how the stream is cut
/// into windows, the latency and memory budgets, the quality gate, threshold overrides and the
/// output sinks. Loaded from a TOML file (`firmware-profiles/README.md` documents every key).
///
/// Two stages, so that a user sees every problem of a profile at once:
/// - `load(contentsOf:)` / `init(toml:source:)` throw a `ProfileError` when the file cannot be
///   represented: TOML syntax, unknown tables or keys, wrong value types, unknown enumeration
///   values (`source.kind`, `source.format`, an output sink), missing required keys.
/// - `validate(against:arenaBytes:)` returns every problem of the values, alone and against a
///   model: ranges, the rate the model cannot use, the window length, hop, leads, thresholds,
///   budgets. A profile is usable when it returns no `.error` issue.
///
/// The computed helpers (`ringFrames`, `hopFrames(at:)`, ...) are meaningful for a profile whose
/// validation has no errors. A replay profile takes the rate and the channels from the recording:
/// `resolvedForReplay(sampleRateHz:channelNames:)` fills them in, and the result is validated
/// again.
///
/// A value type; `Sendable` and `Equatable` (two profiles are equal when their values and
/// `file` are).
public struct FirmwareProfile: Sendable, Equatable {
    /// `[device]`: what the profile describes (for logs and the stream summary).
    public struct Device: Sendable, Equatable {
        public var name: String
        public var vendor: String?
        public var model: String?
        public var firmware: String?

        public init(name: String, vendor: String? = nil, model: String? = nil, firmware: String? = nil) {
            self.name = name
            self.vendor = vendor
            self.model = model
            self.firmware = firmware
        }
    }

    /// `source.kind`.
    public enum SourceKind: String, Sendable, Equatable, CaseIterable {
        /// An ALSA capture device (`source.device`, e.g. "hw:1,0").
        case alsa
        /// Raw interleaved little-endian frames read from a file descriptor.
        case fd
        /// A recording replayed as a stream (its rate and channel names are the recording's).
        case replay
    }

    /// `source.format`: the layout of one sample (ALSA's names).
    public enum SampleFormat: String, Sendable, Equatable, CaseIterable {
        case s16LE = "S16_LE"
        case s32LE = "S32_LE"
        case floatLE = "FLOAT_LE"

        /// Bytes per sample (2 or 4).
        public var bytesPerSample: Int {
            switch self {
            case .s16LE: 2
            case .s32LE, .floatLE: 4
            }
        }

        /// True for the integer formats (whose samples need `gain_uv_per_lsb`).
        public var isInteger: Bool { self != .floatLE }

        /// Bits of the integer container (16 or 32); nil for FLOAT_LE.
        public var integerBits: Int? {
            switch self {
            case .s16LE: 16
            case .s32LE: 32
            case .floatLE: nil
            }
        }
    }

    /// `[source]`. Keys the kind does not use are not stored (they are listed in `ignoredKeys`).
    public struct Source: Sendable, Equatable {
        public var kind: SourceKind
        /// ALSA device name (alsa only).
        public var device: String?
        /// Sample layout (alsa, fd).
        public var format: SampleFormat?
        /// Frames per second (alsa, fd; a replay source gets the recording's).
        public var sampleRateHz: Double?
        /// Channels per frame (alsa, fd; a replay source gets the recording's).
        public var channels: Int?
        /// Significant bits of the ADC (right-justified in the sample), for the full-scale range.
        public var adcBits: Int?
        /// Microvolts per least significant bit of an integer sample; for FLOAT_LE an optional
        /// scale (absent: the floats are millivolts).
        public var gainMicrovoltsPerLSB: Double?
        /// ALSA period and buffer size in frames (alsa only; nil: the defaults, see
        /// `effectivePeriodFrames`, `effectiveBufferFrames`).
        public var periodFrames: Int?
        public var bufferFrames: Int?

        public init(kind: SourceKind, device: String? = nil, format: SampleFormat? = nil, sampleRateHz: Double? = nil,
                    channels: Int? = nil, adcBits: Int? = nil, gainMicrovoltsPerLSB: Double? = nil,
                    periodFrames: Int? = nil, bufferFrames: Int? = nil) {
            self.kind = kind
            self.device = device
            self.format = format
            self.sampleRateHz = sampleRateHz
            self.channels = channels
            self.adcBits = adcBits
            self.gainMicrovoltsPerLSB = gainMicrovoltsPerLSB
            self.periodFrames = periodFrames
            self.bufferFrames = bufferFrames
        }
    }

    /// `[window]`: window length and hop between window starts, in seconds.
    public struct Window: Sendable, Equatable {
        public var seconds: Double
        public var hopSeconds: Double

        public init(seconds: Double, hopSeconds: Double) {
            self.seconds = seconds
            self.hopSeconds = hopSeconds
        }
    }

    /// `[budgets]`.
    public struct Budgets: Sendable, Equatable {
        /// Default of `ring_seconds`.
        public static let defaultRingSeconds = 30.0

        /// Capture-to-result latency budget per window (nil: none).
        public var latencyMilliseconds: Double?
        /// Memory budget for the engine's arena plus the sample ring (nil: none).
        public var memoryBytes: Int?
        /// Seconds of samples the ring between capture and scoring holds.
        public var ringSeconds: Double

        public init(latencyMilliseconds: Double? = nil, memoryBytes: Int? = nil, ringSeconds: Double = Budgets.defaultRingSeconds) {
            self.latencyMilliseconds = latencyMilliseconds
            self.memoryBytes = memoryBytes
            self.ringSeconds = ringSeconds
        }
    }

    /// `[quality]`.
    public struct Quality: Sendable, Equatable {
        /// True: a window with a flat, saturated or noisy lead is reported but not scored.
        public var gate: Bool

        public init(gate: Bool = true) { self.gate = gate }
    }

    /// One entry of `output.sinks`.
    public enum Sink: Sendable, Equatable, CustomStringConvertible {
        /// JSON lines on standard output ("stdout").
        case stdout
        /// JSON lines appended to a file ("file:<path>").
        case file(path: String)

        public var description: String {
            switch self {
            case .stdout: "stdout"
            case .file(let path): "file:\(path)"
            }
        }
    }

    /// `[output]`.
    public struct Output: Sendable, Equatable {
        public var sinks: [Sink]

        public init(sinks: [Sink] = [.stdout]) { self.sinks = sinks }
    }

    /// Where the profile came from (the file's path, or the `source` given to `init(toml:source:)`).
    public var file: String
    public var device: Device
    public var source: Source
    /// `leads.channels`: the lead name of each channel, in frame order, as written (any alias
    /// `LeadName.canonical` accepts; "-" marks a channel that carries no lead). Nil for a replay
    /// profile that keeps the recording's channel names.
    public var channelLeads: [String]?
    public var window: Window
    public var budgets: Budgets
    public var quality: Quality
    /// `[thresholds]`: probability thresholds overriding the model's, by disease name.
    public var thresholds: [String: Double]
    public var output: Output
    /// Keys present in the file that this source kind does not use (e.g. `source.format` of a
    /// replay profile), as key paths; `validate` reports each as a warning.
    public var ignoredKeys: [String]

    public init(file: String, device: Device, source: Source, channelLeads: [String]?, window: Window,
                budgets: Budgets = Budgets(), quality: Quality = Quality(), thresholds: [String: Double] = [:],
                output: Output = Output(), ignoredKeys: [String] = []) {
        self.file = file
        self.device = device
        self.source = source
        self.channelLeads = channelLeads
        self.window = window
        self.budgets = budgets
        self.quality = quality
        self.thresholds = thresholds
        self.output = output
        self.ignoredKeys = ignoredKeys
    }
}

// MARK: - Helpers for the streamer

extension FirmwareProfile {
    /// The channel name marking a channel that carries no lead (in `leads.channels`).
    public static let unusedChannel = "-"

    /// Bytes one ring slot takes per channel (samples are stored as Float, in millivolts).
    public static let ringBytesPerSample = MemoryLayout<Float>.size

    /// The source's frame rate (nil for a replay profile before `resolvedForReplay`).
    public var sampleRateHz: Double? { source.sampleRateHz }

    /// Channels per frame: the number of `leads.channels` entries, else `source.channels`, else 0
    /// (a replay profile before `resolvedForReplay`).
    public var channelCount: Int { channelLeads?.count ?? source.channels ?? 0 }

    /// The channel names the source reports, in frame order (`leads.channels`; empty for a replay
    /// profile before `resolvedForReplay`).
    public var channelNames: [String] { channelLeads ?? [] }

    /// Frames in `seconds` at `rateHz`, rounded to the nearest frame.
    public static func frames(seconds: Double, at rateHz: Double) -> Int {
        let x = (seconds * rateHz).rounded()
        return x.isFinite && x > 0 ? Int(x) : 0
    }

    /// Frames of one window at `rateHz` (the source's rate, or the model's after resampling).
    public func windowFrames(at rateHz: Double) -> Int { Self.frames(seconds: window.seconds, at: rateHz) }

    /// Frames between window starts at `rateHz`.
    public func hopFrames(at rateHz: Double) -> Int { Self.frames(seconds: window.hopSeconds, at: rateHz) }

    /// Frames the sample ring holds at `rateHz`: `ring_seconds * rateHz`, rounded up.
    public func ringFrames(at rateHz: Double) -> Int {
        let x = (budgets.ringSeconds * rateHz).rounded(.up)
        return x.isFinite && x > 0 ? Int(x) : 0
    }

    /// Frames the sample ring holds at the source's rate (0 while the rate is unknown).
    public var ringFrames: Int { ringFrames(at: sampleRateHz ?? 0) }

    /// Bytes of the sample ring: `ringFrames * channelCount * 4` (Float samples).
    public var ringBytes: Int { ringFrames * channelCount * Self.ringBytesPerSample }

    /// Hop between window starts in milliseconds.
    public var hopMilliseconds: Double { window.hopSeconds * 1000 }

    /// ALSA period size: `period_frames`, else a tenth of a second (at least 1 frame).
    public var effectivePeriodFrames: Int {
        source.periodFrames ?? max(1, Self.frames(seconds: 0.1, at: sampleRateHz ?? 0))
    }

    /// ALSA buffer size: `buffer_frames`, else two seconds (at least two periods).
    public var effectiveBufferFrames: Int {
        source.bufferFrames ?? max(2 * effectivePeriodFrames, Self.frames(seconds: 2, at: sampleRateHz ?? 0))
    }

    /// Bytes of one interleaved frame on the wire (nil without a format: replay).
    public var bytesPerFrame: Int? { source.format.map { $0.bytesPerSample * channelCount } }

    /// Millivolts per unit of a raw sample: `gain_uv_per_lsb / 1000`, or 1 for FLOAT_LE samples
    /// without a gain (they are millivolts already).
    public var millivoltsPerUnit: Double { (source.gainMicrovoltsPerLSB ?? 1000) / 1000 }

    /// Half the full-scale range in millivolts (`gain * 2^(adc_bits - 1)` µV), when both
    /// `adc_bits` and `gain_uv_per_lsb` are given.
    public var fullScaleMillivolts: Double? {
        guard let bits = source.adcBits, let gain = source.gainMicrovoltsPerLSB, bits > 0, bits <= 64 else { return nil }
        return gain * Double(sign: .plus, exponent: bits - 1, significand: 1) / 1000
    }

    /// The model's thresholds with this profile's overrides applied (diseases the model lacks are
    /// left out).
    public func effectiveThresholds(for config: ModelConfig) -> [String: Double] {
        var merged = config.thresholds
        for (disease, value) in thresholds where config.diseases.contains(disease) { merged[disease] = value }
        return merged
    }

    /// The map from this profile's channels to `modelLeads` (derives III, aVR, aVL, aVF from I and
    /// II when they are not channels). Throws what `LeadMap` throws.
    public func leadMap(modelLeads: [String]) throws(SignalError) -> LeadMap {
        try LeadMap(channelNames: channelNames, modelLeads: modelLeads)
    }

    /// A replay profile completed with the opened recording's rate and channel names: the rate and
    /// channel count become the recording's, and `leads.channels` defaults to its channel names
    /// (explicit `leads.channels` rename the recording's channels in order; `validate` reports a
    /// count that differs). Other kinds are returned unchanged.
    public func resolvedForReplay(sampleRateHz: Double, channelNames: [String]) -> FirmwareProfile {
        guard source.kind == .replay else { return self }
        var resolved = self
        resolved.source.sampleRateHz = sampleRateHz
        resolved.source.channels = channelNames.count
        if resolved.channelLeads == nil { resolved.channelLeads = channelNames }
        return resolved
    }
}
