/// Where streamed samples come from: an ALSA capture device, a file descriptor, or a replayed
/// recording. A source delivers frames (one value per channel, interleaved) already converted to
/// millivolts, in the channel order of `channelNames` (the profile's channel-to-lead map).
///
/// Threading: `read` is called from one capture thread only; `stop` may be called from any thread
/// and makes a blocked `read` return soon (with `.endOfStream` or frames read so far).
public protocol SampleSource: AnyObject {
    /// Channels per frame.
    var channelCount: Int { get }
    /// Frames per second.
    var sampleRateHz: Double { get }
    /// Lead name of each channel (e.g. "I", "II", "V1"), in frame order.
    var channelNames: [String] { get }
    /// True for hardware and real-time replay: the capture thread must never wait for the
    /// scorer (a full ring drops the oldest windows). False for as-fast-as-possible replay: the
    /// capture thread may wait for room, so nothing is dropped.
    var isPaced: Bool { get }
    /// A short description for logs and the summary ("alsa:hw:1", "fd:3", "replay:rec.hea@1x").
    var name: String { get }

    /// Reads up to `maxFrames` frames into `buffer` (interleaved, `maxFrames * channelCount`
    /// values). Blocks until at least one frame or an event is available. Must not allocate
    /// in the steady state.
    func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws -> SourceChunk

    /// Asks the source to finish; a blocked `read` returns soon.
    func stop()
}

/// What one `read` produced.
public struct SourceChunk: Sendable, Equatable {
    /// Frames written into the buffer (may be 0 with an event).
    public var frames: Int
    /// Something that happened before these frames.
    public var event: SourceEvent?
    /// Monotonic time (ns, `DispatchTime.now().uptimeNanoseconds`) at which the last frame of the
    /// chunk was captured (for a paced source) or read (otherwise): latency is measured from it.
    public var captureTimeNanoseconds: UInt64

    public init(frames: Int, event: SourceEvent? = nil, captureTimeNanoseconds: UInt64) {
        self.frames = frames
        self.event = event
        self.captureTimeNanoseconds = captureTimeNanoseconds
    }
}

/// Events a source reports; each makes the windows they touch count as dropped with that reason.
public enum SourceEvent: Sendable, Equatable {
    /// The device overran (ALSA -EPIPE) and was recovered; `lostFrames` is the estimate of frames
    /// lost (0 when unknown). The next window that contains the recovery point is dropped (xrun).
    case overrun(lostFrames: Int)
    /// The source had no data for a while or delivered invalid samples (NaN, a truncated frame,
    /// zero padding after the end of a file-backed device): `frames` frames are missing or
    /// unusable; windows that overlap them are dropped (source gap).
    case gap(frames: Int, reason: String)
    /// No more data will come (end of file, device closed, `stop()`).
    case endOfStream
}

/// Errors that stop a source (a device that does not exist, refuses the format, a bad fd).
public struct SourceError: Error, Equatable, CustomStringConvertible {
    public var source: String
    public var problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}
