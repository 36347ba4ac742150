import Foundation

/// How a 2-D array holds its leads.
public enum SampleLayout: String, Sendable, Equatable, CaseIterable {
    /// Shape (leads, samples): one row per lead (the trainer's convention).
    case leadsBySamples
    /// Shape (samples, leads): one column per lead.
    case samplesByLeads
}

/// Options for CSV files (one column per lead; see `CSVReader` for the file syntax).
public struct CSVOptions: Sendable, Equatable {
    /// Overrides the file's `# sampling_rate_hz=` comment and its time column; nil: take the
    /// rate from the file.
    public var samplingRateHz: Double?
    /// Unit of columns whose header gives none (`I (mV)` gives one); nil: the file's
    /// `# unit=` comment, else "mV".
    public var unit: String?

    public init(samplingRateHz: Double? = nil, unit: String? = nil) {
        self.samplingRateHz = samplingRateHz
        self.unit = unit
    }
}

/// Options for NPY files, which hold only numbers: the rate, the layout and the lead names come
/// from here.
public struct NPYOptions: Sendable, Equatable {
    /// Required: an NPY file has no sampling rate.
    public var samplingRateHz: Double?
    /// Unit of the stored values (default "mV").
    public var unit: String
    public var layout: SampleLayout
    /// Names of the leads in array order; nil: the 12 standard leads (the array must then have 12).
    public var leadNames: [String]?

    public init(samplingRateHz: Double? = nil, unit: String = "mV", layout: SampleLayout = .leadsBySamples,
                leadNames: [String]? = nil) {
        self.samplingRateHz = samplingRateHz
        self.unit = unit
        self.layout = layout
        self.leadNames = leadNames
    }

    /// I, II, III, aVR, aVL, aVF, V1...V6: the order of every ECG array in Ventriq.
    public static let standardLeadNames: [String] =
        ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
}

/// Everything `RecordingReader` can be told; each format uses its own part.
public struct ReadOptions: Sendable, Equatable {
    public var csv: CSVOptions
    public var npy: NPYOptions
    /// Verify WFDB checksums (the 16-bit sum of each signal's samples) and reject a mismatch.
    /// On by default: a mismatch means the signal file is not the one the header describes.
    public var verifyChecksums: Bool

    public init(csv: CSVOptions = CSVOptions(), npy: NPYOptions = NPYOptions(), verifyChecksums: Bool = true) {
        self.csv = csv
        self.npy = npy
        self.verifyChecksums = verifyChecksums
    }
}
