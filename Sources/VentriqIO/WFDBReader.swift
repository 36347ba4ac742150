import Foundation

/// Reads single-segment WFDB records (header + signal files) into millivolts, reproducing
/// wfdb-python's `rdrecord(...).p_signal` followed by `.astype(float32)`.
enum WFDBReader {
    /// Reads the record whose header is `headerURL`.
    ///
    /// Allocates one `[Int32]` scratch buffer per signal file (freed on return) and one `[Float]`
    /// per channel (owned by the returned value); each signal file is read whole.
    static func read(headerURL: URL, verifyChecksums: Bool) throws -> Recording {
        let header = try parseHeader(headerURL)
        let headerPath = headerURL.path
        let directory = headerURL.deletingLastPathComponent()
        // Units first: a bad unit is reported before any signal file is touched.
        let units = try header.signals.map { spec -> VoltageUnit in
            guard let unit = VoltageUnit(spec.unit) else {
                throw RecordingError.unknownUnit(path: headerPath, line: spec.line, channel: spec.name, unit: spec.unit)
            }
            return unit
        }
        let groups = try signalFiles(of: header, in: directory)
        let sampleCount = try resolvedSampleCount(header, groups: groups)

        var channels = [Channel?](repeating: nil, count: header.signals.count)
        for group in groups {
            let data = try readFile(group.url)
            let frameWidth = group.members.reduce(0) { $0 + header.signals[$1].samplesPerFrame }
            let (flatCount, overflow) = sampleCount.multipliedReportingOverflow(by: frameWidth)
            let available = data.count - min(group.byteOffset, data.count)
            // Every format takes at least a byte per sample, so this bound comes before any
            // arithmetic or allocation that a huge header value could overflow.
            guard !overflow, flatCount <= available,
                  group.format.byteCount(samples: flatCount) <= available else {
                let what = "\(group.members.count) signal(s) x \(sampleCount) frames in format \(group.format.rawValue)"
                let needed = overflow || flatCount > Int.max / 4 ? Int.max : group.format.byteCount(samples: flatCount)
                throw RecordingError.truncated(path: group.url.path, byteOffset: data.count,
                                               dataStart: group.byteOffset, expectedBytes: needed, what: what)
            }
            // Every sample of the file, frame after frame: the file's own interleaving.
            var flat = [Int32](repeating: 0, count: flatCount)
            flat.withUnsafeMutableBufferPointer { out in
                data.withUnsafeBytes { raw in
                    group.format.decode(UnsafeRawBufferPointer(rebasing: raw[group.byteOffset...]), into: out)
                }
            }
            var column = 0
            for index in group.members {
                let spec = header.signals[index]
                let samples = flat.withUnsafeMutableBufferPointer { flat -> [Float] in
                    let signal = FrameColumn(flat: flat, frameWidth: frameWidth, column: column,
                                             width: spec.samplesPerFrame, frames: sampleCount)
                    if group.format == .difference8 { signal.accumulate(from: Int32(truncatingIfNeeded: spec.initialValue ?? 0)) }
                    return signal.physical(spec: spec, unit: units[index], invalid: group.format.invalidSample)
                }
                if verifyChecksums, let expected = spec.checksum {
                    let computed = flat.withUnsafeMutableBufferPointer {
                        FrameColumn(flat: $0, frameWidth: frameWidth, column: column, width: spec.samplesPerFrame,
                                    frames: sampleCount).checksum()
                    }
                    // The header may write the sum signed or unsigned: compare modulo 2^16.
                    if expected & 0xFFFF != computed {
                        throw RecordingError.checksumMismatch(path: headerPath, line: spec.line, channel: spec.name,
                                                              expected: expected, computed: computed)
                    }
                }
                channels[index] = Channel(name: spec.name, unit: spec.unit, samples: samples)
                column += spec.samplesPerFrame
            }
        }
        return Recording(name: headerURL.deletingPathExtension().lastPathComponent, source: headerPath,
                         samplingRateHz: header.samplingRateHz, channels: channels.map { $0! },
                         sampleCount: sampleCount)
    }

    /// Header facts; reads no samples (only signal file sizes when the header omits the length).
    static func info(headerURL: URL) throws -> RecordingInfo {
        let header = try parseHeader(headerURL)
        let directory = headerURL.deletingLastPathComponent()
        let groups = try signalFiles(of: header, in: directory)
        let sampleCount = try resolvedSampleCount(header, groups: groups)
        let record = WFDBRecordInfo(
            recordName: header.recordName, sampleCountInHeader: header.sampleCount != nil,
            counterFrequency: header.counterFrequency, baseTime: header.baseTime, baseDate: header.baseDate,
            comments: header.comments)
        return RecordingInfo(
            format: .wfdb, name: headerURL.deletingPathExtension().lastPathComponent,
            paths: [headerURL.path] + groups.map(\.url.path), samplingRateHz: header.samplingRateHz,
            sampleCount: sampleCount,
            channels: header.signals.map { ChannelInfo(name: $0.name, unit: $0.unit, wfdb: $0.info) },
            wfdb: record)
    }

    static func parseHeader(_ url: URL) throws -> WFDBHeader {
        let data = try readFile(url)
        // Headers are ASCII; decoding leniently keeps a stray byte from hiding the real error.
        return try WFDBHeader(text: String(decoding: data, as: UTF8.self), path: url.path)
    }

    /// The signals stored in one file, in header order (the order of their samples in a frame).
    struct SignalFile {
        var url: URL
        var format: WFDBFormat
        var byteOffset: Int
        var members: [Int]
    }

    /// Groups the signals by file (as wfdb-python does: every signal naming the file belongs to
    /// it) and checks each file exists.
    static func signalFiles(of header: WFDBHeader, in directory: URL) throws -> [SignalFile] {
        var groups: [SignalFile] = []
        var groupOfName: [String: Int] = [:]
        for (index, spec) in header.signals.enumerated() {
            if let g = groupOfName[spec.fileName] {
                let first = header.signals[groups[g].members[0]]
                guard spec.format == first.format else {
                    throw RecordingError.inconsistentSignalFile(
                        path: header.path, line: spec.line, signalFile: spec.fileName,
                        detail: "must share one format (line \(first.line) says \(first.format.rawValue), "
                            + "this line \(spec.format.rawValue))")
                }
                groups[g].members.append(index)
                continue
            }
            guard spec.fileName != "~", spec.fileName != "-" else {
                throw RecordingError.unsupported(path: header.path, line: spec.line,
                                                 feature: "signal file '\(spec.fileName)' (null or standard input)")
            }
            let url = directory.appendingPathComponent(spec.fileName)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw RecordingError.missingSignalFile(header: header.path, line: spec.line, signalFile: url.path)
            }
            groupOfName[spec.fileName] = groups.count
            // wfdb-python takes a file's byte offset from its first signal.
            groups.append(SignalFile(url: url, format: spec.format, byteOffset: spec.byteOffset, members: [index]))
        }
        return groups
    }

    /// The header's sample count, else the first signal file's size in frames (wfdb-python's
    /// `_infer_sig_len`).
    static func resolvedSampleCount(_ header: WFDBHeader, groups: [SignalFile]) throws -> Int {
        if let count = header.sampleCount { return count }
        guard let first = groups.first else { return 0 }
        let frameWidth = first.members.reduce(0) { $0 + header.signals[$1].samplesPerFrame }
        let size: Int
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: first.url.path)
            size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw RecordingError.unreadable(path: first.url.path, reason: error.localizedDescription)
        }
        guard size >= first.byteOffset else {
            throw RecordingError.truncated(path: first.url.path, byteOffset: size, dataStart: first.byteOffset,
                                           expectedBytes: 0, what: "the byte offset in the header")
        }
        return first.format.sampleCount(bytes: size - first.byteOffset) / frameWidth
    }
}

/// Reads a whole file, mapping it when the system allows; errors name the file.
func readFile(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw RecordingError.fileNotFound(path: url.path)
    }
    guard !isDirectory.boolValue else {
        throw RecordingError.unreadable(path: url.path, reason: "is a directory")
    }
    do {
        return try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw RecordingError.unreadable(path: url.path, reason: error.localizedDescription)
    }
}

/// One signal's samples inside a file's decoded frames: `width` consecutive samples at `column`
/// of every `frameWidth`-sample frame.
private struct FrameColumn {
    let flat: UnsafeMutableBufferPointer<Int32>
    let frameWidth: Int
    let column: Int
    let width: Int
    let frames: Int

    /// Format 8: replaces the stored differences by their running sum from `initial` (wrapping
    /// in 32 bits, as wfdb-python's int32 `cumsum` does).
    func accumulate(from initial: Int32) {
        var value = initial
        for frame in 0..<frames {
            let base = frame * frameWidth + column
            for k in 0..<width {
                value &+= flat[base + k]
                flat[base + k] = value
            }
        }
    }

    /// The 16-bit sum of every sample of the signal, in 0..<65536.
    func checksum() -> Int {
        var sum: Int64 = 0
        for frame in 0..<frames {
            let base = frame * frameWidth + column
            for k in 0..<width { sum &+= Int64(flat[base + k]) }
        }
        return Int(sum & 0xFFFF)
    }

    /// Physical values in millivolts, one per frame.
    ///
    /// Like wfdb-python: several samples per frame are averaged in the digital domain and
    /// truncated toward zero (`smooth_frames`); a skewed signal takes its frame `i` from frame
    /// `i + skew`, and frames past the end are invalid; an invalid digital value becomes NaN;
    /// otherwise `(digital - baseline) / gain` in Double, scaled to mV, rounded once to Float.
    func physical(spec: WFDBSignalSpec, unit: VoltageUnit, invalid: Int32?) -> [Float] {
        let gain = spec.gain, baseline = Double(spec.baseline), skew = spec.skew
        // Format 8 has no invalid value; a skewed frame past its end is NaN all the same.
        let sentinel = invalid.map(Int64.init) ?? Int64.max
        return [Float](unsafeUninitializedCapacity: frames) { out, initialized in
            for frame in 0..<frames {
                guard skew < frames - frame else {
                    out[frame] = .nan
                    continue
                }
                let source = frame + skew
                let base = source * frameWidth + column
                let digital: Int64
                if width == 1 {
                    digital = Int64(flat[base])
                } else {
                    var sum: Int64 = 0
                    for k in 0..<width { sum += Int64(flat[base + k]) }
                    digital = Int64(Double(sum) / Double(width))
                }
                out[frame] = digital == sentinel ? .nan : unit.millivolts((Double(digital) - baseline) / gain)
            }
            initialized = frames
        }
    }
}
