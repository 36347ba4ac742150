import CVentriqAllocationCounter
import Dispatch
import Foundation
import Synchronization
import Testing
import VentriqStream

/// AlsaCaptureSource over the test-only `ecgpace` plugin (Tests/alsa-plugin/ecgpace.c): a capture
/// device that serves a raw file in real time, overruns when read too slowly, stalls on request,
/// and offers exactly one format, channel count and rate. Serialized: the tests measure time.
@Suite("ALSA capture: real-time device", .serialized)
struct AlsaPacedDeviceTests {
    static let rate = 500
    static let channels = 8

    /// A 20 s paced file (frame f, channel c = AlsaTestSupport.pacedValue(f, c)).
    static let pacedFile: Result<URL, any Error> = Result {
        let url = AlsaTestSupport.scratchFile("paced")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: channels, frames: 20 * rate, value: AlsaTestSupport.pacedValue)
        return url
    }

    static func open(
        periodFrames: Int = 25, bufferFrames: Int = 250, channels: Int = channels, rate: Int = rate,
        format: AlsaSampleFormat = .s16LE, stallAtMilliseconds: Int? = nil, stallMilliseconds: Int = 0,
        stallTimeoutMilliseconds: Int? = nil
    ) throws -> AlsaCaptureSource {
        let configuration = try AlsaTestSupport.pacedDeviceConfiguration(
            file: try pacedFile.get(), rate: Self.rate, channels: Self.channels, format: .s16LE,
            stallAtMilliseconds: stallAtMilliseconds, stallMilliseconds: stallMilliseconds)
        return try AlsaCaptureSource(
            device: "paced", channelNames: AlsaTestSupport.leadNames(channels), sampleRateHz: rate, format: format,
            gainMicrovoltsPerLSB: 1000, periodFrames: periodFrames, bufferFrames: bufferFrames,
            options: AlsaCaptureOptions(configuration: configuration, stallTimeoutMilliseconds: stallTimeoutMilliseconds))
    }

    /// The signal frame index of a delivered frame (channel 0 counts frames from 1, mod 30000).
    static func frameIndex(_ log: AlsaReadLog, _ k: Int) -> Int { Int(log.samples[k * channels]) - 1 }

    /// Checks that delivered frames `range` are consecutive signal frames with the file's values.
    static func expectConsecutive(_ log: AlsaReadLog, _ range: Range<Int>, _ label: String) {
        guard let first = range.first else { return }
        let start = frameIndex(log, first)
        var bad = 0
        for k in range {
            for c in 0..<channels where log.samples[k * channels + c] != Float(AlsaTestSupport.pacedValue(start + k - first, c)) {
                bad += 1
            }
        }
        #expect(bad == 0, "\(label): \(bad) samples differ from the file")
    }

    static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test("reading 1 s of signal takes about 1 s, with the file's frames in order")
    func pacing() throws {
        let source = try Self.open()
        #expect(source.name == "alsa:paced" && source.isPaced)
        #expect(source.periodFrames == 25 && source.bufferFrames == 250)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 100 * Self.channels)
        defer { buffer.deallocate() }
        var log = AlsaReadLog()
        let start = DispatchTime.now().uptimeNanoseconds
        var lastCapture: UInt64 = 0
        while log.frames < Self.rate {
            let chunk = try source.read(into: buffer, maxFrames: min(100, Self.rate - log.frames))
            log.record(chunk, buffer, channels: Self.channels)
            #expect(chunk.captureTimeNanoseconds >= lastCapture)
            #expect(chunk.captureTimeNanoseconds <= DispatchTime.now().uptimeNanoseconds)
            lastCapture = chunk.captureTimeNanoseconds
        }
        let elapsed = Self.seconds(since: start)
        // Frames exist only as time passes: 500 frames cannot come in much less than 1 s.
        #expect(elapsed >= 0.9, "1 s of signal read in \(elapsed) s")
        #expect(elapsed < 4.0, "1 s of signal read in \(elapsed) s")
        #expect(log.events.isEmpty)
        #expect(log.frames == Self.rate)
        #expect(Self.frameIndex(log, 0) == 0)
        Self.expectConsecutive(log, 0..<log.frames, "paced")
        #expect(source.xrunCount == 0)
    }

    @Test("sleeping past the buffer overruns: .overrun with an estimate of the lost frames, then correct data")
    func overrunAndRecovery() throws {
        // Buffer 250 frames = 500 ms; the reader sleeps 1.5 s.
        let source = try Self.open(bufferFrames: 250)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 50 * Self.channels)
        defer { buffer.deallocate() }
        var log = AlsaReadLog()
        while log.frames < 100 {
            log.record(try source.read(into: buffer, maxFrames: 50), buffer, channels: Self.channels)
        }
        #expect(log.events.isEmpty)
        #expect(source.xrunCount == 0)
        let before = log.frames
        Thread.sleep(forTimeInterval: 1.5)

        let chunk = try source.read(into: buffer, maxFrames: 50)
        log.record(chunk, buffer, channels: Self.channels)
        guard case .overrun(let lost)? = chunk.event else {
            Issue.record("expected an overrun after sleeping 3 buffers, got \(chunk)")
            return
        }
        #expect(chunk.frames == 0)
        #expect(source.xrunCount == 1)

        // Reading goes on: 1 s more, consecutive frames of the file from where the signal is now.
        while log.frames < before + Self.rate {
            log.record(try source.read(into: buffer, maxFrames: 50), buffer, channels: Self.channels)
        }
        #expect(source.xrunCount == 1)
        #expect(log.events.count == 1, "\(log.events)")
        Self.expectConsecutive(log, 0..<before, "before the overrun")
        Self.expectConsecutive(log, before..<log.frames, "after the recovery")
        let jump = Self.frameIndex(log, before) - Self.frameIndex(log, before - 1) - 1
        // About 1.5 s of signal: lost while the reader slept, the ring's content included.
        #expect(jump > 500 && jump < 1500, "frames skipped at the overrun: \(jump)")
        #expect(abs(lost - jump) <= 100 + jump / 4, "estimated \(lost) lost frames, the signal skipped \(jump)")
    }

    @Test("a device that stops delivering reports .gap(no data for N ms) instead of hanging, then goes on")
    func stallIsReportedAsGap() throws {
        // The device's clock stops at 300 ms for 1.2 s; the source gives up waiting after 400 ms.
        let source = try Self.open(stallAtMilliseconds: 300, stallMilliseconds: 1200, stallTimeoutMilliseconds: 400)
        #expect(source.stallTimeoutMilliseconds == 400)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 50 * Self.channels)
        defer { buffer.deallocate() }
        var log = AlsaReadLog()
        let start = DispatchTime.now().uptimeNanoseconds
        while log.frames < Self.rate && Self.seconds(since: start) < 10 {
            // Ask for no more than is left: a device slowed by load may hand over a partial period.
            log.record(try source.read(into: buffer, maxFrames: min(50, Self.rate - log.frames)), buffer, channels: Self.channels)
        }
        let stalls = log.events.compactMap { e -> (Int, Int, String)? in
            if case .gap(let n, let reason) = e.event { return (e.atFrame, n, reason) }
            return nil
        }
        // 1.2 s without data, 400 ms timeout: two or three stall gaps of about 200 frames each.
        #expect(stalls.count >= 2 && stalls.count <= 3, "\(stalls)")
        for (at, n, reason) in stalls {
            #expect(reason.hasPrefix("no data for "), "\(reason)")
            #expect(at > 100 && at <= 175, "stall reported at frame \(at)")
            #expect(n >= 180 && n <= 400, "a stall of 400 ms counted as \(n) frames")
        }
        #expect(log.events.count == stalls.count)
        // The device's clock stopped: nothing was lost, the frames go on where they stopped.
        #expect(log.frames == Self.rate)
        Self.expectConsecutive(log, 0..<log.frames, "across the stall")
        #expect(source.xrunCount == 0)
    }

    @Test("stop() from another thread makes a blocked read return .endOfStream at once")
    func stopUnblocksRead() throws {
        // No frame ever comes (the clock stops at once, forever) and the stall timeout is long.
        let source = try Self.open(stallAtMilliseconds: 0, stallMilliseconds: -1, stallTimeoutMilliseconds: 60_000)
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(SourceChunk?, UInt64)>((nil, 0))
        let reader = Thread {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 10 * 8)
            defer { buffer.deallocate() }
            let chunk = try? source.read(into: buffer, maxFrames: 10)
            result.withLock { $0 = (chunk, DispatchTime.now().uptimeNanoseconds) }
            done.signal()
        }
        reader.start()
        // The read is blocked: nothing returns in 300 ms.
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut)
        let stopped = DispatchTime.now().uptimeNanoseconds
        source.stop()
        try #require(done.wait(timeout: .now() + 5) == .success, "read still blocked 5 s after stop()")
        let (chunk, returned) = result.withLock { $0 }
        #expect(chunk?.event == .endOfStream)
        #expect(chunk?.frames == 0)
        let latency = Double(returned - stopped) / 1e9
        #expect(latency < 0.5, "read returned \(latency) s after stop()")
        // Later reads end at once too.
        var again = [Float](repeating: 0, count: 8)
        let next = try again.withUnsafeMutableBufferPointer { try source.read(into: $0, maxFrames: 1) }
        #expect(next.event == .endOfStream)
    }

    @Test("stop() during steady reading ends the stream")
    func stopWhileReading() throws {
        let source = try Self.open()
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 25 * Self.channels)
        defer { buffer.deallocate() }
        var log = AlsaReadLog()
        while log.frames < 50 { log.record(try source.read(into: buffer, maxFrames: 25), buffer, channels: Self.channels) }
        source.stop()
        source.stop()  // idempotent
        let chunk = try source.read(into: buffer, maxFrames: 25)
        #expect(chunk.event == .endOfStream && chunk.frames == 0)
    }

    @Test("waiting for a real-time device allocates nothing in the steady state")
    func pacedReadAllocatesNothing() throws {
        #expect(vq_allocation_counter_available() == 1)
        let source = try Self.open(periodFrames: 10)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 10 * Self.channels)
        defer { buffer.deallocate() }
        _ = try source.read(into: buffer, maxFrames: 10)  // warm up (starts the device)
        var frames = 0
        vq_allocation_counter_start()
        for _ in 0..<20 { frames += try source.read(into: buffer, maxFrames: 10).frames }
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)
        #expect(frames > 0)
    }

    // MARK: - Refusals

    @Test("asking 3 channels of the 8-channel device is refused, naming what it offers")
    func refusesChannelCount() throws {
        let error = #expect(throws: SourceError.self) { try Self.open(channels: 3) }
        let text = error?.description ?? ""
        #expect(error?.source == "alsa:paced")
        #expect(text.contains("refuses 3 channels"), "\(text)")
        #expect(text.contains("snd_pcm_hw_params_set_channels"), "\(text)")
        #expect(text.contains("Invalid argument"), "\(text)")
        #expect(text.contains("offers 8 channels"), "\(text)")
    }

    @Test("asking S32_LE of the S16_LE-only device is refused, naming what it offers")
    func refusesFormat() throws {
        let error = #expect(throws: SourceError.self) { try Self.open(format: .s32LE) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("alsa:paced: "), "\(text)")
        #expect(text.contains("refuses format S32_LE"), "\(text)")
        #expect(text.contains("snd_pcm_hw_params_set_format"), "\(text)")
        #expect(text.contains("offers S16_LE"), "\(text)")
    }

    @Test("asking 1000 Hz of the 500 Hz device is refused (no resampling), naming the rate it offers")
    func refusesRate() throws {
        let error = #expect(throws: SourceError.self) { try Self.open(rate: 1000) }
        let text = error?.description ?? ""
        #expect(text.contains("refuses exactly 1000 Hz"), "\(text)")
        #expect(text.contains("snd_pcm_hw_params_set_rate"), "\(text)")
        #expect(text.contains("offers 500 Hz"), "\(text)")
    }
}

@Suite("ALSA capture: opening")
struct AlsaOpenTests {
    @Test("a device that does not exist: the error names it, the call and the reason")
    func absentDevice() throws {
        // Through a private configuration and through the system one.
        for configuration in ["pcm.other { type null }", nil] as [String?] {
            let error = #expect(throws: SourceError.self) {
                try AlsaCaptureSource(
                    device: "nosuchdevice", channelNames: AlsaTestSupport.leadNames(8), sampleRateHz: 500,
                    format: .s16LE, gainMicrovoltsPerLSB: 1, periodFrames: 25, bufferFrames: 250,
                    options: AlsaCaptureOptions(configuration: configuration))
            }
            let text = error?.description ?? ""
            #expect(error?.source == "alsa:nosuchdevice")
            #expect(text.contains("snd_pcm_open(\"nosuchdevice\", capture) failed"), "\(text)")
            #expect(text.contains("No such file or directory"), "\(text)")
            #expect(text.contains("no such PCM device"), "\(text)")
        }
    }

    @Test("a configuration text ALSA cannot parse is refused")
    func badConfiguration() throws {
        let error = #expect(throws: SourceError.self) {
            try AlsaCaptureSource(
                device: "x", channelNames: ["I"], sampleRateHz: 500, format: .s16LE, gainMicrovoltsPerLSB: 1,
                periodFrames: 25, bufferFrames: 250, options: AlsaCaptureOptions(configuration: "pcm.x { type "))
        }
        #expect(error?.description.contains("snd_config_load") == true, "\(String(describing: error))")
    }

    @Test("invalid parameters are refused before the device is opened")
    func invalidParameters() throws {
        let config = AlsaCaptureOptions(configuration: "pcm.n { type null }")
        func open(channels: [String] = ["I", "II"], rate: Int = 500, gain: Double = 1, period: Int = 25,
                  buffer: Int = 250, options: AlsaCaptureOptions = config) throws {
            _ = try AlsaCaptureSource(device: "n", channelNames: channels, sampleRateHz: rate, format: .s16LE,
                                      gainMicrovoltsPerLSB: gain, periodFrames: period, bufferFrames: buffer, options: options)
        }
        #expect(throws: Never.self) { try open() }  // the baseline opens
        #expect(throws: SourceError.self) { try open(channels: []) }
        #expect(throws: SourceError.self) { try open(rate: 0) }
        #expect(throws: SourceError.self) { try open(gain: 0) }
        #expect(throws: SourceError.self) { try open(gain: .nan) }
        #expect(throws: SourceError.self) { try open(period: 0) }
        #expect(throws: SourceError.self) { try open(period: 300, buffer: 250) }
        var badZero = config
        badZero.zeroRunGapMilliseconds = 500
        badZero.zeroRunEndMilliseconds = 100
        #expect(throws: SourceError.self) { try open(options: badZero) }
        var badStall = config
        badStall.stallTimeoutMilliseconds = 0
        #expect(throws: SourceError.self) { try open(options: badStall) }
    }

    @Test("period and buffer are always set; the stall timeout defaults to max(500 ms, 4 periods)")
    func periodAndBuffer() throws {
        let config = AlsaCaptureOptions(configuration: "pcm.n { type null }")
        let a = try AlsaCaptureSource(device: "n", channelNames: ["I"], sampleRateHz: 500, format: .s16LE,
                                      gainMicrovoltsPerLSB: 1, periodFrames: 25, bufferFrames: 250, options: config)
        #expect(a.periodFrames == 25 && a.bufferFrames == 250)
        #expect(a.stallTimeoutMilliseconds == 500)
        let b = try AlsaCaptureSource(device: "n", channelNames: ["I"], sampleRateHz: 500, format: .s32LE,
                                      gainMicrovoltsPerLSB: 1, periodFrames: 250, bufferFrames: 1000, options: config)
        #expect(b.periodFrames == 250 && b.bufferFrames == 1000)
        #expect(b.stallTimeoutMilliseconds == 2000)
    }
}
