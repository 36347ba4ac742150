import Atomics
import CAlsa
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Integer sample formats an ALSA capture device is opened with (little-endian, interleaved).
public enum AlsaSampleFormat: String, Sendable, CaseIterable {
    /// Signed 16-bit little-endian (`S16_LE`).
    case s16LE = "S16_LE"
    /// Signed 32-bit little-endian (`S32_LE`).
    case s32LE = "S32_LE"

    /// Bytes per sample (one channel of one frame).
    public var bytesPerSample: Int {
        switch self {
        case .s16LE: return 2
        case .s32LE: return 4
        }
    }

    var alsaFormat: snd_pcm_format_t {
        switch self {
        case .s16LE: return SND_PCM_FORMAT_S16_LE
        case .s32LE: return SND_PCM_FORMAT_S32_LE
        }
    }
}

/// Tuning of `AlsaCaptureSource` beyond the device's own parameters.
public struct AlsaCaptureOptions: Sendable, Equatable {
    /// ALSA configuration text (e.g. `pcm.ecg { type file ... }`) loaded into a private
    /// configuration tree and used with `snd_pcm_open_lconf` instead of the process-wide
    /// configuration; `nil` (the default) opens the device through the system configuration
    /// (`snd_pcm_open`: `hw:1`, `default`, `plughw:...`). A private tree holds only what the text
    /// defines (the built-in plugin types `hw`, `file`, `null`, ... still work); it touches no
    /// global state, so sources with different configurations can open in parallel.
    public var configuration: String?

    /// Length (ms) of a run of frames in which every channel is exactly 0 that is reported as
    /// `.gap` instead of signal; `nil` turns zero-run detection off (zeros are delivered as data).
    /// A real ECG front end never reads exactly 0 on every lead at once for that long (noise alone
    /// moves the LSBs); a file-backed device past its end does (ALSA's `file` plugin over a `null`
    /// slave keeps returning frames it does not fill). Shorter all-zero runs are delivered as data.
    public var zeroRunGapMilliseconds: Int?

    /// When true, an all-zero run that lasts `zeroRunEndMilliseconds` ends the stream
    /// (`.endOfStream`): the end of a file-backed device, which otherwise never ends.
    public var zeroRunEndsStream: Bool

    /// Length (ms) of the all-zero run that ends the stream when `zeroRunEndsStream` is set.
    public var zeroRunEndMilliseconds: Int

    /// How long (ms) `read` waits for the device without receiving a frame before it returns
    /// `.gap(frames: <frames expected in that time>, reason: "no data for N ms")` instead of
    /// hanging; `nil` = max(500 ms, 4 periods).
    public var stallTimeoutMilliseconds: Int?

    public init(
        configuration: String? = nil,
        zeroRunGapMilliseconds: Int? = 200,
        zeroRunEndsStream: Bool = true,
        zeroRunEndMilliseconds: Int = 2000,
        stallTimeoutMilliseconds: Int? = nil
    ) {
        self.configuration = configuration
        self.zeroRunGapMilliseconds = zeroRunGapMilliseconds
        self.zeroRunEndsStream = zeroRunEndsStream
        self.zeroRunEndMilliseconds = zeroRunEndMilliseconds
        self.stallTimeoutMilliseconds = stallTimeoutMilliseconds
    }
}

/// Captures interleaved integer frames from an ALSA PCM device and delivers them in millivolts.
///
/// Device setup (init): `snd_pcm_open` (or `snd_pcm_open_lconf` with
/// `AlsaCaptureOptions.configuration`) for capture in non-blocking mode, then explicit hardware
/// parameters: RW interleaved access, the format, the channel count, exactly the sample rate
/// (resampling off: a device that cannot do the exact rate is refused, naming the rates it
/// offers), and always a period and a buffer size (the nearest the device accepts; see
/// `periodFrames` / `bufferFrames`). Software parameters: wake-up at one period (`avail_min`),
/// start on the first read. Every failure names the device, the call and `snd_strerror`'s text.
///
/// Conversion: millivolts = `Float(Double(value) * millivoltsPerLSB)` with
/// `millivoltsPerLSB = gainMicrovoltsPerLSB / 1000` computed once in Double: one rounding to
/// Float per sample, the same on every machine.
///
/// Blocking and `stop()`: the device is opened non-blocking and `read` waits with `poll(2)` on the
/// device's descriptors plus the read end of a private pipe. `stop()` (any thread) sets a flag and
/// writes one byte to the pipe, so a waiting `read` wakes at once, drops the device
/// (`snd_pcm_drop`, on the capture thread: ALSA calls stay on one thread) and returns
/// `.endOfStream`, as does every later `read`.
///
/// Events:
///   - overrun (`-EPIPE`): `snd_pcm_recover(pcm, err, silent: 1)`, `xrunCount` += 1, a chunk with
///     `.overrun(lostFrames:)`; the estimate is the frames that were still in the device after the
///     previous read (`snd_pcm_delay`) plus the frames of the time elapsed since it: recovery
///     discards the ring, so everything after the previous read up to the restart is lost.
///   - suspend (`-ESTRPIPE`): recovered likewise and reported as `.gap` of the frames of the time
///     since the previous read. `-EAGAIN` / `-EINTR`: wait / retry.
///   - stall: no frame for `stallTimeoutMilliseconds` → `.gap(frames: rate × elapsed, reason:
///     "no data for N ms")`; the wait then goes on (each further timeout reports another gap).
///   - all-channels-zero runs: see `AlsaCaptureOptions.zeroRunGapMilliseconds`. Zero frames at
///     the end of a read are held back (only their count: they are all zero) until the run either
///     ends (they are delivered as data, in order) or reaches the gap length (they and the rest of
///     the run are reported as `.gap`, never as signal); at `zeroRunEndMilliseconds` the stream
///     ends. The raw buffer is cleared before every `snd_pcm_readi`, so frames a plugin reports but
///     does not fill (`file` past the end of its `infile` over `null`) read as exactly zero rather
///     than as the previous chunk.
///
/// `captureTimeNanoseconds` of a chunk with frames: `DispatchTime.now().uptimeNanoseconds` when
/// `snd_pcm_readi` returned, minus the frames still waiting in the device (`snd_pcm_delay`,
/// clamped to 0...buffer) and the frames read but not yet delivered, at the sample rate.
///
/// Memory: the raw integer buffer (`bufferFrames` frames), the hardware-parameter block, the poll
/// descriptors and the pipe are allocated at init; `read` allocates nothing.
///
/// Threading: `read` from one capture thread; `stop()` and `xrunCount` from any thread (hence
/// `@unchecked Sendable`: the rest of the state is touched by the capture thread only).
public final class AlsaCaptureSource: SampleSource, @unchecked Sendable {
    public let channelCount: Int
    public let sampleRateHz: Double
    public let channelNames: [String]
    public let isPaced = true
    public let name: String

    /// The ALSA device name as given (`hw:1`, `plughw:CARD=ECG`, a name from the configuration).
    public let device: String
    public let format: AlsaSampleFormat
    public let gainMicrovoltsPerLSB: Double
    /// `gainMicrovoltsPerLSB / 1000`: the factor from a raw value to millivolts.
    public let millivoltsPerLSB: Double
    /// The period and buffer sizes the device accepted (the nearest to those requested).
    public let periodFrames: Int
    public let bufferFrames: Int
    public let options: AlsaCaptureOptions
    /// The all-zero run lengths in frames (0 = detection off / never ends the stream).
    public let zeroRunGapFrames: Int
    public let zeroRunEndFrames: Int
    /// The stall timeout in effect (ms).
    public let stallTimeoutMilliseconds: Int

    /// Overruns recovered so far.
    public var xrunCount: Int { xruns.load(ordering: .relaxed) }

    private let pcm: OpaquePointer
    private let localConfig: OpaquePointer?
    private let hwParams: OpaquePointer
    private let raw: UnsafeMutableRawPointer
    private let rawCapacityFrames: Int
    private let frameBytes: Int
    private let pollFds: UnsafeMutablePointer<pollfd>
    private let pcmPollCount: Int
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopRequested = ManagedAtomic<Bool>(false)
    private let xruns = ManagedAtomic<Int>(0)
    private let nanosecondsPerFrame: Double
    private let stallTimeoutNanoseconds: UInt64

    // Capture-thread state.
    private var started = false
    private var ended = false
    private var dropped = false
    /// Frames read from the device not yet consumed: raw frames [rawOffset, rawOffset + rawAvailable).
    private var rawOffset = 0
    private var rawAvailable = 0
    /// Capture time of the last frame read by the last `snd_pcm_readi`.
    private var rawCaptureNanoseconds: UInt64 = 0
    private var lastReadNanoseconds: UInt64 = 0
    private var delayAtLastRead = 0
    /// Last time frames arrived or a stall was reported (the stall clock).
    private var lastProgressNanoseconds: UInt64 = 0
    private var zeroRun = 0
    private var pendingZeroFrames = 0
    private var inZeroGap = false
    private var unreportedZeroGapFrames = 0

    /// Opens and configures `device` for capture.
    /// - Parameters:
    ///   - channelNames: lead name of each channel, in frame order (its count is the channel count).
    ///   - gainMicrovoltsPerLSB: microvolts per integer step.
    ///   - periodFrames, bufferFrames: requested period and ring sizes; always set (the nearest the
    ///     device accepts is used). `bufferFrames` must be at least `periodFrames`.
    public init(
        device: String,
        channelNames: [String],
        sampleRateHz: Int,
        format: AlsaSampleFormat,
        gainMicrovoltsPerLSB: Double,
        periodFrames: Int,
        bufferFrames: Int,
        options: AlsaCaptureOptions = AlsaCaptureOptions()
    ) throws(SourceError) {
        let sourceName = "alsa:\(device)"
        func fail(_ problem: String) -> SourceError { SourceError(source: sourceName, problem: problem) }

        guard !channelNames.isEmpty else { throw fail("no channels (channelNames is empty)") }
        guard sampleRateHz > 0 else { throw fail("sample rate must be positive, not \(sampleRateHz) Hz") }
        guard gainMicrovoltsPerLSB.isFinite, gainMicrovoltsPerLSB > 0 else {
            throw fail("gain must be a positive number of µV per LSB, not \(gainMicrovoltsPerLSB)")
        }
        guard periodFrames > 0, bufferFrames >= periodFrames else {
            throw fail("period (\(periodFrames) frames) must be positive and at most the buffer (\(bufferFrames) frames)")
        }
        if let gap = options.zeroRunGapMilliseconds {
            guard gap > 0 else { throw fail("zeroRunGapMilliseconds must be positive, not \(gap)") }
            if options.zeroRunEndsStream {
                guard options.zeroRunEndMilliseconds >= gap else {
                    throw fail("zeroRunEndMilliseconds (\(options.zeroRunEndMilliseconds)) must be at least zeroRunGapMilliseconds (\(gap))")
                }
            }
        }
        if let stall = options.stallTimeoutMilliseconds, stall <= 0 {
            throw fail("stallTimeoutMilliseconds must be positive, not \(stall)")
        }

        // Open (non-blocking: `read` waits in poll so that `stop()` can wake it).
        var config: OpaquePointer? = nil
        if let text = options.configuration {
            var err = snd_config_top(&config)
            if err < 0 { throw fail("snd_config_top failed: \(alsaError(err))") }
            var input: OpaquePointer? = nil
            err = text.withCString { snd_input_buffer_open(&input, $0, -1) }
            if err < 0 {
                snd_config_delete(config)
                throw fail("snd_input_buffer_open failed: \(alsaError(err))")
            }
            err = snd_config_load(config, input)
            snd_input_close(input)
            if err < 0 {
                snd_config_delete(config)
                throw fail("snd_config_load of the ALSA configuration text failed: \(alsaError(err))")
            }
        }
        var handle: OpaquePointer? = nil
        let openMode = Int32(SND_PCM_NONBLOCK)
        let openErr: Int32 = device.withCString { name in
            if let config {
                return snd_pcm_open_lconf(&handle, name, SND_PCM_STREAM_CAPTURE, openMode, config)
            }
            return snd_pcm_open(&handle, name, SND_PCM_STREAM_CAPTURE, openMode)
        }
        guard openErr >= 0, let pcm = handle else {
            if let config { snd_config_delete(config) }
            var problem = "snd_pcm_open(\"\(device)\", capture) failed: \(alsaError(openErr))"
            if openErr == -ENOENT {
                problem += " (no such PCM device in the "
                    + (config == nil ? "ALSA configuration; `arecord -L` lists them)" : "given ALSA configuration)")
            } else if openErr == -EBUSY {
                problem += " (the device is in use by another program)"
            }
            throw fail(problem)
        }

        var hwParamsHandle: OpaquePointer? = nil
        let mallocErr = snd_pcm_hw_params_malloc(&hwParamsHandle)
        guard mallocErr >= 0, let hw = hwParamsHandle else {
            snd_pcm_close(pcm)
            if let config { snd_config_delete(config) }
            throw fail("snd_pcm_hw_params_malloc failed: \(alsaError(mallocErr))")
        }
        func cleanup() {
            snd_pcm_hw_params_free(hw)
            snd_pcm_close(pcm)
            if let config { snd_config_delete(config) }
        }

        // Hardware parameters, each refusal with what the device offers.
        let channels = channelNames.count
        var acceptedPeriod = snd_pcm_uframes_t(periodFrames)
        var acceptedBuffer = snd_pcm_uframes_t(bufferFrames)
        do throws(SourceError) {
            var err = snd_pcm_hw_params_any(pcm, hw)
            if err < 0 { throw fail("snd_pcm_hw_params_any failed: \(alsaError(err))") }
            err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
            if err < 0 {
                throw fail("the device refuses interleaved read/write access (snd_pcm_hw_params_set_access: \(alsaError(err)))")
            }
            let offeredFormats = Self.offeredFormats(hw)
            err = snd_pcm_hw_params_set_format(pcm, hw, format.alsaFormat)
            if err < 0 {
                throw fail("the device refuses format \(format.rawValue) (snd_pcm_hw_params_set_format: \(alsaError(err))); it offers \(offeredFormats)")
            }
            let offeredChannels = Self.offeredChannels(hw)
            err = snd_pcm_hw_params_set_channels(pcm, hw, UInt32(channels))
            if err < 0 {
                throw fail("the device refuses \(channels) channels (snd_pcm_hw_params_set_channels: \(alsaError(err))); it offers \(offeredChannels)")
            }
            // Exact rate: no resampling by a `plug` layer either.
            _ = snd_pcm_hw_params_set_rate_resample(pcm, hw, 0)
            let offeredRates = Self.offeredRates(hw)
            err = snd_pcm_hw_params_set_rate(pcm, hw, UInt32(sampleRateHz), 0)
            if err < 0 {
                throw fail("the device refuses exactly \(sampleRateHz) Hz (snd_pcm_hw_params_set_rate: \(alsaError(err))); it offers \(offeredRates)")
            }
            var dir: Int32 = 0
            err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &acceptedPeriod, &dir)
            if err < 0 {
                throw fail("the device refuses a period of about \(periodFrames) frames (snd_pcm_hw_params_set_period_size_near: \(alsaError(err)))")
            }
            err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &acceptedBuffer)
            if err < 0 {
                throw fail("the device refuses a buffer of about \(bufferFrames) frames (snd_pcm_hw_params_set_buffer_size_near: \(alsaError(err)))")
            }
            err = snd_pcm_hw_params(pcm, hw)
            if err < 0 { throw fail("snd_pcm_hw_params failed: \(alsaError(err))") }
            dir = 0
            _ = snd_pcm_hw_params_get_period_size(hw, &acceptedPeriod, &dir)
            _ = snd_pcm_hw_params_get_buffer_size(hw, &acceptedBuffer)

            // Software parameters: wake up per period, start on the first read.
            var swHandle: OpaquePointer? = nil
            err = snd_pcm_sw_params_malloc(&swHandle)
            guard err >= 0, let sw = swHandle else { throw fail("snd_pcm_sw_params_malloc failed: \(alsaError(err))") }
            defer { snd_pcm_sw_params_free(sw) }
            err = snd_pcm_sw_params_current(pcm, sw)
            if err < 0 { throw fail("snd_pcm_sw_params_current failed: \(alsaError(err))") }
            err = snd_pcm_sw_params_set_avail_min(pcm, sw, acceptedPeriod)
            if err < 0 { throw fail("snd_pcm_sw_params_set_avail_min failed: \(alsaError(err))") }
            err = snd_pcm_sw_params_set_start_threshold(pcm, sw, 1)
            if err < 0 { throw fail("snd_pcm_sw_params_set_start_threshold failed: \(alsaError(err))") }
            err = snd_pcm_sw_params(pcm, sw)
            if err < 0 { throw fail("snd_pcm_sw_params failed: \(alsaError(err))") }
            err = snd_pcm_prepare(pcm)
            if err < 0 { throw fail("snd_pcm_prepare failed: \(alsaError(err))") }
        } catch {
            cleanup()
            throw error
        }

        let pollCount = Int(snd_pcm_poll_descriptors_count(pcm))
        guard pollCount > 0 else {
            cleanup()
            throw fail("snd_pcm_poll_descriptors_count failed: \(alsaError(Int32(pollCount)))")
        }
        // The wake-up pipe of stop(): both ends non-blocking and close-on-exec.
        var pipeFds: (Int32, Int32) = (-1, -1)
        let pipeErr = withUnsafeMutableBytes(of: &pipeFds) {
            pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        guard pipeErr == 0 else {
            let e = errno
            cleanup()
            throw fail("pipe failed: \(String(cString: strerror(e)))")
        }
        for fd in [pipeFds.0, pipeFds.1] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }

        self.device = device
        self.name = sourceName
        self.channelNames = channelNames
        self.channelCount = channels
        self.sampleRateHz = Double(sampleRateHz)
        self.format = format
        self.gainMicrovoltsPerLSB = gainMicrovoltsPerLSB
        self.millivoltsPerLSB = gainMicrovoltsPerLSB / 1000
        self.periodFrames = Int(acceptedPeriod)
        self.bufferFrames = Int(acceptedBuffer)
        self.options = options
        self.pcm = pcm
        self.localConfig = config
        self.hwParams = hw
        self.frameBytes = channels * format.bytesPerSample
        self.rawCapacityFrames = Int(acceptedBuffer)
        self.raw = UnsafeMutableRawPointer.allocate(byteCount: Int(acceptedBuffer) * channels * format.bytesPerSample, alignment: 16)
        self.raw.initializeMemory(as: UInt8.self, repeating: 0, count: Int(acceptedBuffer) * channels * format.bytesPerSample)
        self.pcmPollCount = pollCount
        self.pollFds = UnsafeMutablePointer<pollfd>.allocate(capacity: pollCount + 1)
        self.pollFds.initialize(repeating: pollfd(fd: -1, events: 0, revents: 0), count: pollCount + 1)
        self.wakeRead = pipeFds.0
        self.wakeWrite = pipeFds.1
        self.nanosecondsPerFrame = 1e9 / Double(sampleRateHz)
        if let gap = options.zeroRunGapMilliseconds {
            self.zeroRunGapFrames = max(1, (gap * sampleRateHz + 999) / 1000)
            self.zeroRunEndFrames = options.zeroRunEndsStream
                ? max(1, (options.zeroRunEndMilliseconds * sampleRateHz + 999) / 1000) : 0
        } else {
            self.zeroRunGapFrames = 0
            self.zeroRunEndFrames = 0
        }
        let periodMilliseconds = (Int(acceptedPeriod) * 1000 + sampleRateHz - 1) / sampleRateHz
        let stall = options.stallTimeoutMilliseconds ?? max(500, 4 * periodMilliseconds)
        self.stallTimeoutMilliseconds = stall
        self.stallTimeoutNanoseconds = UInt64(stall) * 1_000_000
    }

    deinit {
        snd_pcm_close(pcm)
        if let localConfig { snd_config_delete(localConfig) }
        snd_pcm_hw_params_free(hwParams)
        close(wakeRead)
        close(wakeWrite)
        raw.deallocate()
        pollFds.deallocate()
    }

    public func stop() {
        if stopRequested.exchange(true, ordering: .acquiringAndReleasing) { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - Reading

    public func read(into buffer: UnsafeMutableBufferPointer<Float>, maxFrames: Int) throws(SourceError) -> SourceChunk {
        precondition(maxFrames > 0, "maxFrames must be positive")
        precondition(buffer.count >= maxFrames * channelCount, "buffer holds fewer than maxFrames frames")
        guard let out = buffer.baseAddress else { preconditionFailure("empty buffer") }
        if ended { return endOfStream() }
        if stopRequested.load(ordering: .acquiring) { return endOfStream() }

        let channels = channelCount
        let detectZeros = zeroRunGapFrames > 0
        var written = 0
        var event: SourceEvent? = nil

        while true {
            if rawAvailable == 0 {
                // Only reached with nothing written and no event yet (returns below otherwise).
                // Reads all the device has, up to the buffer: frames beyond `maxFrames` wait here.
                switch try fetch(frames: rawCapacityFrames) {
                case .frames(let n):
                    rawOffset = 0
                    rawAvailable = n
                case .event(let deviceEvent):
                    return SourceChunk(frames: 0, event: deviceEvent, captureTimeNanoseconds: now())
                case .stopped:
                    return endOfStream()
                }
            }

            while rawAvailable > 0 {
                let first = rawOffset * channels
                if detectZeros && frameIsAllZero(at: first) {
                    zeroRun += 1
                    rawOffset += 1
                    rawAvailable -= 1
                    if inZeroGap {
                        unreportedZeroGapFrames += 1
                    } else {
                        pendingZeroFrames += 1
                        if zeroRun >= zeroRunGapFrames {
                            // The run is long enough: its frames are a gap, never signal.
                            inZeroGap = true
                            unreportedZeroGapFrames += pendingZeroFrames
                            pendingZeroFrames = 0
                            if written > 0 { return chunk(written, event) }
                        }
                    }
                    if zeroRunEndFrames > 0 && zeroRun >= zeroRunEndFrames {
                        ended = true
                        dropDevice()
                        if unreportedZeroGapFrames > 0 { return zeroGapChunk() }
                        return endOfStream()
                    }
                    continue
                }
                // A frame with signal: ends any zero run.
                if inZeroGap {
                    inZeroGap = false
                    if unreportedZeroGapFrames > 0 {
                        event = zeroGapEvent()
                    }
                }
                while pendingZeroFrames > 0 {
                    // A short zero run: its frames are data, delivered in order.
                    if written == maxFrames { return chunk(written, event) }
                    (out + written * channels).initialize(repeating: 0, count: channels)
                    written += 1
                    pendingZeroFrames -= 1
                }
                if written == maxFrames { return chunk(written, event) }
                convertFrame(from: first, to: out + written * channels)
                written += 1
                rawOffset += 1
                rawAvailable -= 1
                zeroRun = 0
                if written == maxFrames { return chunk(written, event) }
            }

            if written > 0 { return chunk(written, event) }
            if unreportedZeroGapFrames > 0 { return zeroGapChunk() }
            // Only held-back zeros so far: read more.
        }
    }

    // MARK: - Internals

    private enum Fetch {
        case frames(Int)
        case event(SourceEvent)
        case stopped
    }

    /// Reads up to `frames` frames into the raw buffer, waiting (poll) as needed.
    private func fetch(frames: Int) throws(SourceError) -> Fetch {
        if !started {
            started = true
            let t = now()
            lastProgressNanoseconds = t
            lastReadNanoseconds = t
        }
        while true {
            if stopRequested.load(ordering: .acquiring) { return .stopped }
            memset(raw, 0, frames * frameBytes)
            let n = snd_pcm_readi(pcm, raw, snd_pcm_uframes_t(frames))
            if n > 0 {
                let t = now()
                var delay: snd_pcm_sframes_t = 0
                if snd_pcm_delay(pcm, &delay) < 0 || delay < 0 { delay = 0 }
                let waiting = min(Int(delay), bufferFrames)
                rawCaptureNanoseconds = t &- min(t, UInt64(Double(waiting) * nanosecondsPerFrame))
                lastReadNanoseconds = t
                delayAtLastRead = waiting
                lastProgressNanoseconds = t
                return .frames(Int(n))
            }
            switch Int32(n) {
            case 0, -EAGAIN:
                if let stall = try waitForDevice() { return stall }
            case -EINTR:
                continue
            case -EPIPE:
                let t = now()
                let lost = delayAtLastRead + framesIn(t &- min(t, lastReadNanoseconds))
                try recover(Int32(n), call: "snd_pcm_readi")
                xruns.wrappingIncrement(ordering: .relaxed)
                restartClocks()
                return .event(.overrun(lostFrames: lost + abandonZeroRun()))
            case -ESTRPIPE:
                try recover(Int32(n), call: "snd_pcm_readi")
                let t = now()
                let lost = delayAtLastRead + framesIn(t &- min(t, lastReadNanoseconds))
                restartClocks()
                return .event(.gap(frames: lost + abandonZeroRun(), reason: "device suspended (ESTRPIPE), recovered"))
            default:
                throw SourceError(source: name, problem: "snd_pcm_readi failed: \(alsaError(Int32(n)))")
            }
        }
    }

    /// Waits in poll for the device or the stop pipe; returns a stall gap when nothing came for
    /// the stall timeout, `.stopped` after `stop()`, nil to try reading again.
    private func waitForDevice() throws(SourceError) -> Fetch? {
        let t = now()
        let waited = t &- min(t, lastProgressNanoseconds)
        if waited >= stallTimeoutNanoseconds {
            lastProgressNanoseconds = t
            let milliseconds = Int(waited / 1_000_000)
            return .event(.gap(frames: framesIn(waited) + abandonZeroRun(), reason: "no data for \(milliseconds) ms"))
        }
        let remainingMs = Int32(min(UInt64(Int32.max), (stallTimeoutNanoseconds - waited + 999_999) / 1_000_000))
        let filled = snd_pcm_poll_descriptors(pcm, pollFds, UInt32(pcmPollCount))
        if filled < 0 {
            throw SourceError(source: name, problem: "snd_pcm_poll_descriptors failed: \(alsaError(filled))")
        }
        let count = Int(filled)
        pollFds[count] = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        let ready = poll(pollFds, nfds_t(count + 1), remainingMs)
        if ready < 0 {
            let e = errno
            if e == EINTR { return nil }
            throw SourceError(source: name, problem: "poll failed: \(String(cString: strerror(e)))")
        }
        if pollFds[count].revents != 0 || stopRequested.load(ordering: .acquiring) { return .stopped }
        if ready > 0 {
            // Lets the plugin or driver digest its events (a timer, a socket) before reading.
            var revents: UInt16 = 0
            let err = snd_pcm_poll_descriptors_revents(pcm, pollFds, UInt32(count), &revents)
            if err < 0 {
                throw SourceError(source: name, problem: "snd_pcm_poll_descriptors_revents failed: \(alsaError(err))")
            }
        }
        return nil
    }

    /// After a recovery the device starts afresh: the stall clock and the loss estimate too.
    private func restartClocks() {
        let t = now()
        lastReadNanoseconds = t
        lastProgressNanoseconds = t
        delayAtLastRead = 0
    }

    private func recover(_ err: Int32, call: String) throws(SourceError) {
        let r = snd_pcm_recover(pcm, err, 1)
        if r < 0 {
            throw SourceError(source: name, problem: "\(call) failed (\(alsaError(err))) and snd_pcm_recover could not recover: \(alsaError(r))")
        }
    }

    /// Ends any zero run at a device event; returns the held-back zero frames, which the event's
    /// frame count then covers (they sit right before it).
    private func abandonZeroRun() -> Int {
        let held = pendingZeroFrames + unreportedZeroGapFrames
        pendingZeroFrames = 0
        unreportedZeroGapFrames = 0
        inZeroGap = false
        zeroRun = 0
        return held
    }

    @inline(__always)
    private func sample(_ index: Int) -> Int32 {
        switch format {
        case .s16LE: return Int32(Int16(littleEndian: raw.load(fromByteOffset: index &* 2, as: Int16.self)))
        case .s32LE: return Int32(littleEndian: raw.load(fromByteOffset: index &* 4, as: Int32.self))
        }
    }

    @inline(__always)
    private func frameIsAllZero(at first: Int) -> Bool {
        for c in 0..<channelCount where sample(first + c) != 0 { return false }
        return true
    }

    @inline(__always)
    private func convertFrame(from first: Int, to destination: UnsafeMutablePointer<Float>) {
        let scale = millivoltsPerLSB
        for c in 0..<channelCount {
            destination[c] = Float(Double(sample(first + c)) * scale)
        }
    }

    private func chunk(_ frames: Int, _ event: SourceEvent?) -> SourceChunk {
        // The last delivered frame is followed by `rawAvailable` frames read with it.
        let behind = UInt64(Double(rawAvailable) * nanosecondsPerFrame)
        let time = rawCaptureNanoseconds &- min(rawCaptureNanoseconds, behind)
        return SourceChunk(frames: frames, event: event, captureTimeNanoseconds: time)
    }

    private func zeroGapEvent() -> SourceEvent {
        let frames = unreportedZeroGapFrames
        unreportedZeroGapFrames = 0
        let milliseconds = zeroRunGapFrames * 1000 / Int(sampleRateHz)
        return .gap(frames: frames, reason: "all channels exactly zero for at least \(milliseconds) ms (no signal: end of a file-backed device or a dead front end)")
    }

    private func zeroGapChunk() -> SourceChunk {
        SourceChunk(frames: 0, event: zeroGapEvent(), captureTimeNanoseconds: now())
    }

    private func endOfStream() -> SourceChunk {
        ended = true
        dropDevice()
        return SourceChunk(frames: 0, event: .endOfStream, captureTimeNanoseconds: now())
    }

    private func dropDevice() {
        if !dropped {
            dropped = true
            _ = snd_pcm_drop(pcm)
        }
    }

    @inline(__always)
    private func framesIn(_ nanoseconds: UInt64) -> Int {
        Int(Double(nanoseconds) / nanosecondsPerFrame)
    }

    @inline(__always)
    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    // MARK: - What a device offers (for error messages)

    private static func offeredFormats(_ hw: OpaquePointer) -> String {
        var maskHandle: OpaquePointer? = nil
        guard snd_pcm_format_mask_malloc(&maskHandle) >= 0, let mask = maskHandle else { return "(unknown formats)" }
        defer { snd_pcm_format_mask_free(mask) }
        snd_pcm_hw_params_get_format_mask(hw, mask)
        var names: [String] = []
        for value in 0...Int32(SND_PCM_FORMAT_LAST.rawValue) {
            let f = snd_pcm_format_t(rawValue: value)
            if snd_pcm_format_mask_test(mask, f) != 0, let cName = snd_pcm_format_name(f) {
                names.append(String(cString: cName))
            }
        }
        return names.isEmpty ? "no formats" : names.joined(separator: ", ")
    }

    private static func offeredChannels(_ hw: OpaquePointer) -> String {
        var lo: UInt32 = 0, hi: UInt32 = 0
        guard snd_pcm_hw_params_get_channels_min(hw, &lo) >= 0, snd_pcm_hw_params_get_channels_max(hw, &hi) >= 0 else {
            return "(unknown channel counts)"
        }
        return lo == hi ? "\(lo) channels" : "\(lo)–\(hi) channels"
    }

    private static func offeredRates(_ hw: OpaquePointer) -> String {
        var lo: UInt32 = 0, hi: UInt32 = 0
        var dir: Int32 = 0
        guard snd_pcm_hw_params_get_rate_min(hw, &lo, &dir) >= 0, snd_pcm_hw_params_get_rate_max(hw, &hi, &dir) >= 0 else {
            return "(unknown rates)"
        }
        return lo == hi ? "\(lo) Hz" : "\(lo)–\(hi) Hz"
    }
}

/// `snd_strerror` text with the code, e.g. "No such file or directory (-2)".
func alsaError(_ err: Int32) -> String {
    "\(String(cString: snd_strerror(err))) (\(err))"
}
