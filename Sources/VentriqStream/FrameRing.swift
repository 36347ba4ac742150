import Atomics
import Dispatch

/// The single-producer single-consumer ring between the capture thread and the scoring thread.
///
/// Frames (one value per channel, interleaved) are written by the producer only and read by the
/// consumer only; the two share nothing but two monotonic counters (`written`, `consumed`, in
/// frames since the start) and a semaphore the producer signals. Each frame also carries a flag
/// (ok, overrun, gap) and the capture time of its chunk, so every window knows why it may not be
/// scored and how late its result is.
///
/// - Paced sources (hardware, real-time replay) never wait: when the consumer falls behind, the
///   producer overwrites the oldest frames and the consumer notices (`frames(from:)` returns nil)
///   and drops the windows it lost, counting them as backlog.
/// - Unpaced sources (as-fast-as-possible replay) wait for room instead (`waitForRoom`), so
///   nothing is dropped.
///
/// Memory: allocated once at init (capacity x channels floats, plus a byte and 8 bytes per
/// frame); no call allocates.
public final class FrameRing: @unchecked Sendable {
    public enum Flag: UInt8 { case ok = 0, overrun = 1, gap = 2 }

    public let channels: Int
    /// Frames the ring holds (a power of two).
    public let capacity: Int
    private let mask: Int
    private let samples: UnsafeMutablePointer<Float>
    private let flags: UnsafeMutablePointer<UInt8>
    private let times: UnsafeMutablePointer<UInt64>
    private let written = ManagedAtomic<Int>(0)
    private let consumed = ManagedAtomic<Int>(0)
    private let finished = ManagedAtomic<Bool>(false)
    private let dataReady = DispatchSemaphore(value: 0)
    private let roomReady = DispatchSemaphore(value: 0)

    /// - Parameter minimumFrames: rounded up to a power of two.
    public init(channels: Int, minimumFrames: Int) {
        precondition(channels > 0 && minimumFrames > 0)
        var c = 1
        while c < minimumFrames { c <<= 1 }
        self.channels = channels
        capacity = c
        mask = c - 1
        samples = .allocate(capacity: c * channels)
        samples.initialize(repeating: 0, count: c * channels)
        flags = .allocate(capacity: c)
        flags.initialize(repeating: 0, count: c)
        times = .allocate(capacity: c)
        times.initialize(repeating: 0, count: c)
    }

    deinit {
        samples.deallocate()
        flags.deallocate()
        times.deallocate()
    }

    // MARK: producer

    /// Frames written so far (producer's view; also readable by the consumer).
    public var framesWritten: Int { written.load(ordering: .acquiring) }

    /// Appends `frames` frames from `buffer` (interleaved), each with `flag` and `time`.
    /// Never blocks. Frames older than `capacity` behind the newest are overwritten.
    public func write(_ buffer: UnsafeBufferPointer<Float>, frames: Int, flag: Flag = .ok, time: UInt64) {
        let start = written.load(ordering: .relaxed)
        var done = 0
        while done < frames {
            let position = (start + done) & mask
            let run = min(frames - done, capacity - position)
            (samples + position * channels).update(from: buffer.baseAddress! + done * channels, count: run * channels)
            (flags + position).update(repeating: flag.rawValue, count: run)
            (times + position).update(repeating: time, count: run)
            done += run
        }
        written.store(start + frames, ordering: .releasing)
        dataReady.signal()
    }

    /// Marks `frames` missing frames (a gap or an overrun) by writing zero frames with `flag`.
    public func writeMissing(frames: Int, flag: Flag, time: UInt64) {
        let start = written.load(ordering: .relaxed)
        let count = min(frames, capacity)
        for i in 0..<count {
            let position = (start + frames - count + i) & mask
            (samples + position * channels).update(repeating: 0, count: channels)
            flags[position] = flag.rawValue
            times[position] = time
        }
        written.store(start + frames, ordering: .releasing)
        dataReady.signal()
    }

    /// For unpaced producers: waits until `frames` more frames fit without overwriting what the
    /// consumer still needs (or the ring is finished).
    public func waitForRoom(frames: Int) {
        while !finished.load(ordering: .acquiring) {
            if written.load(ordering: .relaxed) + frames - consumed.load(ordering: .acquiring) <= capacity { return }
            _ = roomReady.wait(timeout: .now() + .milliseconds(5))
        }
    }

    /// The producer is done: no more frames will come.
    public func finish() {
        finished.store(true, ordering: .releasing)
        dataReady.signal()
        roomReady.signal()
    }

    public var isFinished: Bool { finished.load(ordering: .acquiring) }

    // MARK: consumer

    /// Waits until at least `frame` frames have been written, the ring is finished, or the
    /// timeout passes; returns the frames written so far.
    public func waitForFrames(atLeast frame: Int, timeoutMilliseconds: Int = 100) -> Int {
        while true {
            let w = written.load(ordering: .acquiring)
            if w >= frame || finished.load(ordering: .acquiring) { return w }
            if dataReady.wait(timeout: .now() + .milliseconds(timeoutMilliseconds)) == .timedOut { return written.load(ordering: .acquiring) }
        }
    }

    /// The oldest frame still held.
    public var oldestFrame: Int { max(0, written.load(ordering: .acquiring) - capacity) }

    /// Copies frames [start, start + count) into `into` channel-major (channel c's samples at
    /// `c * count`), and reports the worst flag among them and the capture time of the last one.
    /// Returns nil when part of the range was overwritten before or during the copy (the
    /// consumer fell behind: backlog).
    public func copy(from start: Int, count: Int, into destination: UnsafeMutablePointer<Float>) -> (flag: Flag, time: UInt64)? {
        precondition(count <= capacity)
        guard start >= written.load(ordering: .acquiring) - capacity else { return nil }
        var worst: UInt8 = 0
        for i in 0..<count {
            let position = (start + i) & mask
            let frame = samples + position * channels
            for c in 0..<channels { destination[c * count + i] = frame[c] }
            worst = max(worst, flags[position])
        }
        let time = times[(start + count - 1) & mask]
        // Overwritten while copying?
        guard start >= written.load(ordering: .acquiring) - capacity else { return nil }
        return (Flag(rawValue: worst) ?? .gap, time)
    }

    /// The consumer no longer needs frames before `frame` (lets an unpaced producer go on).
    public func release(upTo frame: Int) {
        consumed.store(frame, ordering: .releasing)
        roomReady.signal()
    }
}
