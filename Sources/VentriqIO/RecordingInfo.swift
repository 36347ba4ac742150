import Foundation

/// Header facts about a recording, for `ventriq inspect`: what the file says, without decoding
/// the samples (CSV is the exception: its sample count needs every row parsed).
public struct RecordingInfo: Sendable, Equatable {
    public var format: RecordingFormat
    /// The record id (file name without extension).
    public var name: String
    /// Every file the recording reads, the header (or the single file) first.
    public var paths: [String]
    public var samplingRateHz: Double
    public var sampleCount: Int
    /// `sampleCount / samplingRateHz`.
    public var durationSeconds: Double
    public var channels: [ChannelInfo]
    /// WFDB record-line facts and header comments; nil for other formats.
    public var wfdb: WFDBRecordInfo?
    /// CSV layout facts; nil for other formats.
    public var csv: CSVFileInfo?
    /// NPY header facts; nil for other formats.
    public var npy: NPYFileInfo?

    public init(
        format: RecordingFormat, name: String, paths: [String], samplingRateHz: Double, sampleCount: Int,
        channels: [ChannelInfo], wfdb: WFDBRecordInfo? = nil, csv: CSVFileInfo? = nil, npy: NPYFileInfo? = nil
    ) {
        self.format = format
        self.name = name
        self.paths = paths
        self.samplingRateHz = samplingRateHz
        self.sampleCount = sampleCount
        self.durationSeconds = Double(sampleCount) / samplingRateHz
        self.channels = channels
        self.wfdb = wfdb
        self.csv = csv
        self.npy = npy
    }
}

/// One channel as the header describes it.
public struct ChannelInfo: Sendable, Equatable {
    /// The name as written in the file.
    public var name: String
    /// The unit as written in the file (or given by the options).
    public var unit: String
    /// WFDB signal-line fields; nil for CSV and NPY.
    public var wfdb: WFDBSignalInfo?

    public init(name: String, unit: String, wfdb: WFDBSignalInfo? = nil) {
        self.name = name
        self.unit = unit
        self.wfdb = wfdb
    }
}

/// The fields of one WFDB signal line, with WFDB's defaults applied where the line omits them
/// (optional values stay nil when absent, so `inspect` can show what was written).
public struct WFDBSignalInfo: Sendable, Equatable {
    /// The signal file name as written in the header (relative to the header's directory).
    public var signalFile: String
    /// The storage format code (16, 212, ...).
    public var formatCode: Int
    /// ADC units per physical unit (200 when the header gives 0 or nothing).
    public var gain: Double
    /// The digital value of 0 physical units (defaults to `adcZero`).
    public var baseline: Int
    public var adcZero: Int
    /// Bits of ADC resolution, as written (nil when absent).
    public var adcResolution: Int?
    /// The first sample's value, as written (used by format 8; nil when absent).
    public var initialValue: Int?
    /// 16-bit sum of the signal's samples, as written (nil when absent).
    public var checksum: Int?
    /// Bytes to skip at the start of the signal file.
    public var byteOffset: Int
    public var samplesPerFrame: Int
    /// Frames by which this signal is delayed in the file relative to the others.
    public var skew: Int
    public var blockSize: Int
    /// The 1-based line of the header this signal came from.
    public var headerLine: Int

    public init(
        signalFile: String, formatCode: Int, gain: Double, baseline: Int, adcZero: Int, adcResolution: Int?,
        initialValue: Int?, checksum: Int?, byteOffset: Int, samplesPerFrame: Int, skew: Int, blockSize: Int,
        headerLine: Int
    ) {
        self.signalFile = signalFile
        self.formatCode = formatCode
        self.gain = gain
        self.baseline = baseline
        self.adcZero = adcZero
        self.adcResolution = adcResolution
        self.initialValue = initialValue
        self.checksum = checksum
        self.byteOffset = byteOffset
        self.samplesPerFrame = samplesPerFrame
        self.skew = skew
        self.blockSize = blockSize
        self.headerLine = headerLine
    }
}

/// WFDB record-line facts.
public struct WFDBRecordInfo: Sendable, Equatable {
    /// The record name on the record line (usually the file stem).
    public var recordName: String
    /// Whether the sample count came from the header (false: inferred from the signal file size).
    public var sampleCountInHeader: Bool
    /// Counter frequency, base time and base date as written (nil when absent).
    public var counterFrequency: String?
    public var baseTime: String?
    public var baseDate: String?
    /// Comment lines without the leading `#`, in file order.
    public var comments: [String]

    public init(
        recordName: String, sampleCountInHeader: Bool, counterFrequency: String?, baseTime: String?,
        baseDate: String?, comments: [String]
    ) {
        self.recordName = recordName
        self.sampleCountInHeader = sampleCountInHeader
        self.counterFrequency = counterFrequency
        self.baseTime = baseTime
        self.baseDate = baseDate
        self.comments = comments
    }
}

/// Where a CSV file's sampling rate came from.
public enum SamplingRateSource: String, Sendable, Equatable {
    case options
    case commentLine = "comment line"
    case timeColumn = "time column"
}

/// CSV layout facts.
public struct CSVFileInfo: Sendable, Equatable {
    /// The skipped time/sample column's header text, nil when there is none.
    public var timeColumn: String?
    public var rateSource: SamplingRateSource
    /// The 1-based line of the header row.
    public var headerLine: Int

    public init(timeColumn: String?, rateSource: SamplingRateSource, headerLine: Int) {
        self.timeColumn = timeColumn
        self.rateSource = rateSource
        self.headerLine = headerLine
    }
}

/// NPY header facts.
public struct NPYFileInfo: Sendable, Equatable {
    /// Format version, e.g. "1.0".
    public var version: String
    /// The dtype descriptor as written, e.g. "<f4".
    public var dtype: String
    public var fortranOrder: Bool
    public var shape: [Int]
    public var layout: SampleLayout
    /// Byte offset of the first array element.
    public var dataOffset: Int

    public init(version: String, dtype: String, fortranOrder: Bool, shape: [Int], layout: SampleLayout, dataOffset: Int) {
        self.version = version
        self.dtype = dtype
        self.fortranOrder = fortranOrder
        self.shape = shape
        self.layout = layout
        self.dataOffset = dataOffset
    }
}
