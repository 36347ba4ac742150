import Dispatch
import Foundation
import Ventriq

/// Replays a recording (WFDB, CSV or NPY) as a stream: at real time (`speed` 1), N times faster,
/// or as fast as the scorer takes it (`speed` nil: unpaced, nothing dropped).
///
/// The recording is read once at init; `read` hands out chunks of `chunkSeconds` and, when paced,
/// sleeps until the wall-clock time of the chunk's last frame. Allocates nothing per read.
public final class ReplaySource: SampleSource {
    public let channelCount: Int
    public let sampleRateHz: Double
    public let channelNames: [String]
    public let name: String
    public var isPaced: Bool { speed != nil }
    /// Frames per second of wall time relative to the recording (nil: as fast as possible).
    public let speed: Double?
    public let totalFrames: Int
    /// Frames of the recording (played `repeatCount` times).
    public let recordingFrames: Int

    private let interleaved: [Float]
    private let chunkFrames: Int
    private var position = 0
    private var startTime: UInt64 = 0
    private var stopped = false

    /// - Parameter repeatCount: plays the recording this many times back to back (long soak runs
    ///   without a long file; memory stays that of one copy).
    public init(recording: Recording, speed: Double?, chunkSeconds: Double = 0.04, channelNames: [String]? = nil,
                repeatCount: Int = 1) throws {
        guard speed.map({ $0 > 0 && $0.isFinite }) ?? true else {
            throw SourceError(source: "replay:\(recording.source)", problem: "speed must be positive, got \(speed!)")
        }
        if let names = channelNames, names.count != recording.channels.count {
            throw SourceError(source: "replay:\(recording.source)",
                              problem: "the profile names \(names.count) channels; the recording has \(recording.channels.count)")
        }
        self.speed = speed
        channelCount = recording.channels.count
        sampleRateHz = recording.samplingRateHz
        self.channelNames = channelNames ?? recording.channels.map(\.name)
        recordingFrames = recording.sampleCount
        totalFrames = recording.sampleCount * max(1, repeatCount)
        chunkFrames = max(1, Int(chunkSeconds * recording.samplingRateHz))
        var data = [Float](repeating: 0, count: recording.sampleCount * channelCount)
        for (c, channel) in recording.channels.enumerated() {
            for i in 0..<recording.sampleCount { data[i * channelCount + c] = channel.samples[i] }
        }
        interleaved = data
        let speedText = speed.map { "@\($0)x" } ?? "@max"
        name = "replay:\(recording.source)\(speedText)"
    }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> SourceChunk {
        let now = DispatchTime.now().uptimeNanoseconds
        if startTime == 0 { startTime = now }
        guard !stopped, position < totalFrames else { return SourceChunk(frames: 0, event: .endOfStream, captureTimeNanoseconds: now) }
        let offset = position % recordingFrames
        let frames = min(chunkFrames, maxFrames, totalFrames - position, recordingFrames - offset)
        if let speed {
            // The chunk's last frame is due at start + (position + frames) / (rate * speed).
            let due = startTime + UInt64(Double(position + frames) / (sampleRateHz * speed) * 1e9)
            if due > now { usleep(useconds_t(min((due - now) / 1000, 1_000_000))) }
        }
        interleaved.withUnsafeBufferPointer { src in
            buffer.baseAddress!.update(from: src.baseAddress! + offset * channelCount, count: frames * channelCount)
        }
        position += frames
        return SourceChunk(frames: frames, captureTimeNanoseconds: DispatchTime.now().uptimeNanoseconds)
    }

    public func stop() { stopped = true }
}

/// Interleaved little-endian samples on a file descriptor (a pipe from a vendor daemon, a serial
/// device, stdin): int16 or int32 scaled by the profile's gain, or float32 in millivolts.
///
/// A frame cut short at the end of the stream is reported as a gap (never scored); NaN or infinite
/// float samples are passed on and make their window drop as invalid; when no byte arrives for
/// `stallMilliseconds`, a gap of the expected number of frames is reported so time keeps moving.
public final class FileDescriptorSource: SampleSource {
    public enum Format: String, Sendable, CaseIterable {
        case s16LE = "S16_LE", s32LE = "S32_LE", float32LE = "FLOAT_LE"
        var bytes: Int { self == .s16LE ? 2 : 4 }
    }

    public let channelCount: Int
    public let sampleRateHz: Double
    public let channelNames: [String]
    public let name: String
    public let isPaced = true
    public let format: Format
    /// Millivolts per integer step (gain in uV per LSB / 1000); unused for float32.
    public let millivoltsPerLSB: Double
    public let stallMilliseconds: Int

    private let descriptor: Int32
    private let bytes: UnsafeMutableRawPointer
    private let capacityBytes: Int
    private var pending = 0  // bytes of an incomplete frame kept from the last read
    private var stopped = false
    private var ended = false

    public init(descriptor: Int32, name: String, format: Format, channelNames: [String], sampleRateHz: Double,
                gainMicrovoltsPerLSB: Double?, maxFrames: Int = 4096, stallMilliseconds: Int = 1000) throws {
        guard fcntl(descriptor, F_GETFD) != -1 else {
            throw SourceError(source: name, problem: "file descriptor \(descriptor) is not open")
        }
        if format != .float32LE {
            guard let g = gainMicrovoltsPerLSB, g > 0, g.isFinite else {
                throw SourceError(source: name, problem: "\(format.rawValue) samples need a positive gain (uV per LSB) in the profile")
            }
        }
        self.descriptor = descriptor
        self.name = name
        self.format = format
        self.channelNames = channelNames
        channelCount = channelNames.count
        self.sampleRateHz = sampleRateHz
        millivoltsPerLSB = (gainMicrovoltsPerLSB ?? 1000) / 1000
        self.stallMilliseconds = stallMilliseconds
        capacityBytes = maxFrames * channelNames.count * format.bytes
        bytes = .allocate(byteCount: capacityBytes + channelNames.count * format.bytes, alignment: 16)
    }

    deinit { bytes.deallocate() }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> SourceChunk {
        let frameBytes = channelCount * format.bytes
        while true {
            if stopped || ended { return SourceChunk(frames: 0, event: .endOfStream, captureTimeNanoseconds: DispatchTime.now().uptimeNanoseconds) }
            var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(stallMilliseconds))
            let now = DispatchTime.now().uptimeNanoseconds
            if ready == 0 {
                let missing = Int(Double(stallMilliseconds) / 1000 * sampleRateHz)
                return SourceChunk(frames: 0, event: .gap(frames: missing, reason: "no data for \(stallMilliseconds) ms"), captureTimeNanoseconds: now)
            }
            if ready < 0 {
                if errno == EINTR { continue }
                throw SourceError(source: name, problem: "poll failed: \(String(cString: strerror(errno)))")
            }
            let want = min(maxFrames * frameBytes, capacityBytes) - pending
            let got = Glibc.read(descriptor, bytes + pending, want)
            if got < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw SourceError(source: name, problem: "read failed: \(String(cString: strerror(errno)))")
            }
            if got == 0 {
                ended = true
                if pending > 0 {
                    let cut = pending
                    pending = 0
                    return SourceChunk(frames: 0, event: .gap(frames: 1, reason: "truncated final frame: \(cut) of \(frameBytes) bytes"),
                                       captureTimeNanoseconds: now)
                }
                return SourceChunk(frames: 0, event: .endOfStream, captureTimeNanoseconds: now)
            }
            let total = pending + got
            let frames = total / frameBytes
            convert(frames: frames, into: buffer)
            pending = total - frames * frameBytes
            if pending > 0 { (bytes).copyMemory(from: bytes + frames * frameBytes, byteCount: pending) }
            if frames > 0 { return SourceChunk(frames: frames, captureTimeNanoseconds: now) }
        }
    }

    private func convert(frames: Int, into buffer: UnsafeMutableBufferPointer<Float>) {
        let n = frames * channelCount
        let out = buffer.baseAddress!
        switch format {
        case .s16LE:
            for i in 0..<n {
                let v = Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
                out[i] = Float(Double(v) * millivoltsPerLSB)
            }
        case .s32LE:
            for i in 0..<n {
                let v = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
                out[i] = Float(Double(v) * millivoltsPerLSB)
            }
        case .float32LE:
            for i in 0..<n {
                out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        }
    }

    public func stop() { stopped = true }
}
