import Foundation

/// One signal of a recording, in millivolts.
///
/// A value type: `samples` is an ordinary Swift array owned by this value (copy-on-write), so a
/// `Channel` can be passed between tasks freely.
public struct Channel: Sendable, Equatable {
    /// The signal's name as written in the file (e.g. "I", "aVR", "V1").
    public var name: String
    /// The physical unit as written in the file (e.g. "mV", "uV"); `samples` are always mV.
    public var unit: String
    /// Physical values converted to millivolts. Invalid samples (WFDB's per-format sentinel, or a
    /// skewed signal running past the end of the file) are NaN, as in wfdb-python.
    public var samples: [Float]

    public init(name: String, unit: String, samples: [Float]) {
        self.name = name
        self.unit = unit
        self.samples = samples
    }
}

/// A multi-channel ECG recording read from a WFDB, CSV or NPY file.
///
/// Every channel has `sampleCount` samples at `samplingRateHz`. The reader allocates one
/// `[Float]` per channel; nothing else is retained (the file's bytes are released on return).
public struct Recording: Sendable, Equatable {
    /// The record id: the file name without its extension (e.g. "normal_00252").
    public var name: String
    /// The path the recording was read from (the `.hea` header for WFDB).
    public var source: String
    /// Samples per second per channel (WFDB: frames per second).
    public var samplingRateHz: Double
    /// The signals in file order.
    public var channels: [Channel]
    /// Samples per channel.
    public var sampleCount: Int

    public init(name: String, source: String, samplingRateHz: Double, channels: [Channel], sampleCount: Int) {
        self.name = name
        self.source = source
        self.samplingRateHz = samplingRateHz
        self.channels = channels
        self.sampleCount = sampleCount
    }

    /// `sampleCount / samplingRateHz`.
    public var durationSeconds: Double { Double(sampleCount) / samplingRateHz }

    /// The first channel whose name matches `name` ignoring case ("avr" finds "aVR").
    public func channel(named name: String) -> Channel? {
        let wanted = name.lowercased()
        return channels.first { $0.name.lowercased() == wanted }
    }
}

/// The file formats the reader understands.
public enum RecordingFormat: String, Sendable, Equatable, CaseIterable {
    case wfdb
    case csv
    case npy
}
