import Foundation
import Synchronization
import Testing
import VentriqStream
import VentriqTestSupport

/// Fixtures of the ALSA capture tests: raw interleaved files, private ALSA configurations (loaded
/// with `snd_pcm_open_lconf` through `AlsaCaptureOptions.configuration`, so tests running in
/// parallel in one process never touch the global ALSA configuration), and the test-only
/// real-time plugin `ecgpace` (Tests/alsa-plugin/ecgpace.c), built once per test process.
enum AlsaTestSupport {
    /// Tests/alsa-plugin/ in this checkout.
    static let pluginSourceDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("alsa-plugin", isDirectory: true)

    /// A scratch directory for this test process (files are small; left for inspection).
    static let scratch: URL = {
        try! TestEnvironment.makeTemporaryDirectory("ventriq-alsa")
    }()

    /// The built plugin library, or the build error (compiled at most once per process).
    private static let pluginBuild: Result<URL, AlsaTestError> = {
        let output = scratch.appendingPathComponent("plugin", isDirectory: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [pluginSourceDirectory.appendingPathComponent("build.sh").path, output.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        do {
            try process.run()
        } catch {
            return .failure(AlsaTestError("cannot run Tests/alsa-plugin/build.sh: \(error)"))
        }
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(AlsaTestError("building the ecgpace ALSA plugin failed (status \(process.terminationStatus)):\n\(log)"))
        }
        return .success(output.appendingPathComponent("libasound_module_pcm_ecgpace.so"))
    }()

    static func pluginLibrary() throws -> URL { try pluginBuild.get() }

    private static let counter = Atomic<Int>(0)

    /// A fresh file name in the scratch directory.
    static func scratchFile(_ label: String) -> URL {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return scratch.appendingPathComponent("\(label)-\(n).raw")
    }

    /// Writes `frames` interleaved frames of `format` (little-endian) with `value(frame, channel)`.
    static func writeRaw(
        _ url: URL, format: AlsaSampleFormat, channels: Int, frames: Int, value: (Int, Int) -> Int32
    ) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(frames * channels * format.bytesPerSample)
        for f in 0..<frames {
            for c in 0..<channels {
                let v = value(f, c)
                switch format {
                case .s16LE:
                    precondition(v >= Int32(Int16.min) && v <= Int32(Int16.max))
                    withUnsafeBytes(of: Int16(v).littleEndian) { bytes.append(contentsOf: $0) }
                case .s32LE:
                    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
                }
            }
        }
        try Data(bytes).write(to: url)
    }

    /// ALSA's `file` plugin over a `null` slave, reading `infile` back bit for bit (not paced;
    /// past the end of the file it reports frames without filling them).
    static func fileDeviceConfiguration(name: String = "ecgsim", infile: URL) -> String {
        """
        pcm.\(name) {
            type file
            slave.pcm { type null }
            file "/dev/null"
            infile "\(infile.path)"
            format "raw"
        }
        """
    }

    /// The `ecgpace` plugin serving `file` in real time with exactly `rate`, `channels`, `format`.
    static func pacedDeviceConfiguration(
        name: String = "paced", file: URL, rate: Int, channels: Int, format: AlsaSampleFormat,
        stallAtMilliseconds: Int? = nil, stallMilliseconds: Int = 0
    ) throws -> String {
        var stall = ""
        if let at = stallAtMilliseconds { stall = "stall_at_ms \(at)\n    stall_ms \(stallMilliseconds)" }
        return """
        pcm_type.ecgpace { lib "\(try pluginLibrary().path)" }
        pcm.\(name) {
            type ecgpace
            file "\(file.path)"
            rate \(rate)
            channels \(channels)
            format "\(format.rawValue)"
            \(stall)
        }
        """
    }

    /// Lead names for `count` channels (the 12 standard leads, then numbered extras).
    static func leadNames(_ count: Int) -> [String] {
        let leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
        return (0..<count).map { $0 < leads.count ? leads[$0] : "X\($0)" }
    }

    /// The millivolt value the source must produce for `value` (its documented conversion).
    static func millivolts(_ value: Int32, gain: Double) -> Float {
        Float(Double(value) * (gain / 1000))
    }

    /// Frame `f` of the paced test signal: channel 0 counts frames from 1 (so no frame is all
    /// zero and a lost frame shows as a jump), channel c adds c * 1000 (mod the S16 range).
    static func pacedValue(_ f: Int, _ c: Int) -> Int32 {
        Int32((f % 30000) + 1 + c * 1000) % 32000
    }
}

struct AlsaTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Everything a sequence of reads produced, for checks.
struct AlsaReadLog {
    var samples: [Float] = []
    var frames = 0
    var events: [(atFrame: Int, event: SourceEvent)] = []
    var chunks: [SourceChunk] = []
    var ended: Bool { events.last.map { $0.event == .endOfStream } ?? false }

    var gapFrames: Int {
        events.reduce(0) { total, e in
            if case .gap(let n, _) = e.event { return total + n }
            return total
        }
    }

    /// Appends one chunk from `buffer`.
    mutating func record(_ chunk: SourceChunk, _ buffer: UnsafeMutableBufferPointer<Float>, channels: Int) {
        chunks.append(chunk)
        if let event = chunk.event { events.append((frames, event)) }
        samples.append(contentsOf: buffer[0..<(chunk.frames * channels)])
        frames += chunk.frames
    }
}

extension AlsaCaptureSource {
    /// Reads until `.endOfStream`, `limit` reads or `untilFrames` frames, `maxFrames` at a time.
    func readAll(maxFrames: Int, limit: Int = 20_000, untilFrames: Int = .max) throws -> AlsaReadLog {
        var log = AlsaReadLog()
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: maxFrames * channelCount)
        defer { buffer.deallocate() }
        for _ in 0..<limit where log.frames < untilFrames {
            let chunk = try read(into: buffer, maxFrames: maxFrames)
            log.record(chunk, buffer, channels: channelCount)
            if chunk.event == .endOfStream { break }
        }
        return log
    }
}
