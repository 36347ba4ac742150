import CVentriqAllocationCounter
import Foundation
import Testing
import VentriqStream

/// AlsaCaptureSource over ALSA's `file` plugin (a `null` slave, an `infile`): the device returns a
/// prepared raw file bit for bit, for any channel count and rate, as fast as it is read, and past
/// the end of the file reports frames it never fills (all zero once the source clears its buffer).
@Suite("ALSA capture: file-backed device")
struct AlsaFileDeviceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var format: AlsaSampleFormat
        var channels: Int
        var rate: Int
        var testDescription: String { "\(format.rawValue) \(channels) ch \(rate) Hz" }
    }

    static let cases: [Case] = [AlsaSampleFormat.s16LE, .s32LE].flatMap { format in
        [8, 12].flatMap { channels in [500, 1000].map { Case(format: format, channels: channels, rate: $0) } }
    }

    /// Known values covering the whole integer range: extremes, ±1, a pseudo-random walk; channel
    /// 0 is never 0, so the data has no all-zero frame, except `zeroRun` frames when given.
    static func value(_ format: AlsaSampleFormat, _ f: Int, _ c: Int, zeroRun: Range<Int>? = nil) -> Int32 {
        if let zeroRun, zeroRun.contains(f) { return 0 }
        let lo = format == .s16LE ? Int64(Int16.min) : Int64(Int32.min)
        let hi = format == .s16LE ? Int64(Int16.max) : Int64(Int32.max)
        switch (f + c) % 7 {
        case 0: return Int32(lo)
        case 1: return Int32(hi)
        case 2: return c == 0 ? 1 : -1
        default:
            var x = UInt64(f &* 131 &+ c &* 7919) &* 0x9E37_79B9_7F4A_7C15
            x ^= x >> 29
            let span = UInt64(hi - lo + 1)
            let v = Int64(x % span) + lo
            return Int32(c == 0 && v == 0 ? 7 : v)
        }
    }

    @Test("every sample converts exactly (value × gain / 1000 mV), then the zero padding ends the stream", arguments: cases)
    func samplesConvertExactly(_ tc: Case) throws {
        let frames = 3 * tc.rate + 37  // not a multiple of any read size
        let gain = tc.format == .s16LE ? 0.5 : 0.000_476_837_158_203_125  // µV per LSB
        let url = AlsaTestSupport.scratchFile("exact")
        try AlsaTestSupport.writeRaw(url, format: tc.format, channels: tc.channels, frames: frames) {
            Self.value(tc.format, $0, $1)
        }
        let source = try AlsaCaptureSource(
            device: "ecgsim", channelNames: AlsaTestSupport.leadNames(tc.channels), sampleRateHz: tc.rate,
            format: tc.format, gainMicrovoltsPerLSB: gain, periodFrames: 64, bufferFrames: 256,
            options: AlsaCaptureOptions(configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url)))
        #expect(source.name == "alsa:ecgsim")
        #expect(source.isPaced)
        #expect(source.channelCount == tc.channels)
        #expect(source.sampleRateHz == Double(tc.rate))
        #expect(source.periodFrames == 64 && source.bufferFrames == 256)

        let log = try source.readAll(maxFrames: 97)
        // The file's frames, all of them, in order, each sample exactly converted.
        try #require(log.frames == frames, "delivered \(log.frames) frames of \(frames)")
        var mismatches = 0
        for f in 0..<frames {
            for c in 0..<tc.channels {
                let v = Self.value(tc.format, f, c)
                let got = log.samples[f * tc.channels + c]
                if got != AlsaTestSupport.millivolts(v, gain: gain) { mismatches += 1 }
                // and it is value × gain / 1000 to Float precision
                let exact = Double(v) * gain / 1000
                if abs(Double(got) - exact) > abs(exact) * 1e-7 { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        // The padding after the end: a gap (never frames of signal), then the end of the stream.
        let gaps = log.events.filter { if case .gap = $0.event { return true } else { return false } }
        #expect(!gaps.isEmpty)
        #expect(gaps.allSatisfy { $0.atFrame == frames })
        for gap in gaps {
            if case .gap(_, let reason) = gap.event { #expect(reason.contains("all channels exactly zero")) }
        }
        #expect(log.gapFrames == source.zeroRunEndFrames)
        #expect(log.gapFrames >= source.zeroRunGapFrames)
        #expect(log.ended)
        #expect(log.events.filter { $0.event == .endOfStream }.count == 1)
        // ... and it stays ended.
        var one = [Float](repeating: 0, count: tc.channels)
        let after = try one.withUnsafeMutableBufferPointer { try source.read(into: $0, maxFrames: 1) }
        #expect(after.frames == 0 && after.event == .endOfStream)
    }

    @Test("thresholds in frames follow the rate: 200 ms gap and 2 s end by default")
    func defaultThresholds() throws {
        let url = AlsaTestSupport.scratchFile("thresholds")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: 8, frames: 10) { _, _ in 1 }
        for (rate, gap, end) in [(500, 100, 1000), (1000, 200, 2000), (250, 50, 500)] {
            let source = try AlsaCaptureSource(
                device: "ecgsim", channelNames: AlsaTestSupport.leadNames(8), sampleRateHz: rate, format: .s16LE,
                gainMicrovoltsPerLSB: 1, periodFrames: 32, bufferFrames: 128,
                options: AlsaCaptureOptions(configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url)))
            #expect(source.zeroRunGapFrames == gap)
            #expect(source.zeroRunEndFrames == end)
        }
    }

    @Test("an all-zero run of 500 ms inside the data is one gap of exactly its frames; a 40 ms one is data")
    func zeroRunsInsideTheData() throws {
        let rate = 500
        let long = 1000..<1250    // 500 ms: a gap
        let short = 1600..<1620   // 40 ms: data
        let frames = 2500
        let value: (Int, Int) -> Int32 = { f, c in
            if long.contains(f) || short.contains(f) { return 0 }
            return Int32(f % 3000 + 1 + c)
        }
        let url = AlsaTestSupport.scratchFile("zeroruns")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: 12, frames: frames, value: value)
        // Read sizes smaller and larger than the held-back zeros.
        for maxFrames in [7, 64, 256] {
            let source = try AlsaCaptureSource(
                device: "ecgsim", channelNames: AlsaTestSupport.leadNames(12), sampleRateHz: rate, format: .s16LE,
                gainMicrovoltsPerLSB: 1000, periodFrames: 64, bufferFrames: 256,
                options: AlsaCaptureOptions(configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url)))
            let log = try source.readAll(maxFrames: maxFrames)
            #expect(log.frames == frames - long.count, "maxFrames \(maxFrames)")
            // Gap frames by the delivered frame they precede (a run may come in several reports).
            var gaps: [Int: Int] = [:]
            for e in log.events {
                if case .gap(let n, _) = e.event { gaps[e.atFrame, default: 0] += n }
            }
            // Exactly the run's frames where it began; the trailing padding after the last frame.
            #expect(gaps.keys.sorted() == [long.lowerBound, frames - long.count], "maxFrames \(maxFrames): \(gaps)")
            #expect(gaps[long.lowerBound] == long.count, "maxFrames \(maxFrames): \(gaps)")
            #expect(gaps[frames - long.count] == source.zeroRunEndFrames, "maxFrames \(maxFrames): \(gaps)")
            // Every delivered frame is the file's, in order: the long run skipped, the short one kept.
            let expected = (0..<frames).filter { !long.contains($0) }
            var mismatches = 0
            for (k, f) in expected.enumerated() {
                for c in 0..<12 where log.samples[k * 12 + c] != Float(value(f, c)) { mismatches += 1 }
            }
            #expect(mismatches == 0, "maxFrames \(maxFrames)")
            #expect(log.ended)
        }
    }

    @Test("zeroRunEndsStream false: the padding is reported as gaps, the stream goes on until stop()")
    func zeroRunWithoutEnd() throws {
        let url = AlsaTestSupport.scratchFile("noend")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: 8, frames: 300) { f, c in Int32(f + c + 1) }
        let source = try AlsaCaptureSource(
            device: "ecgsim", channelNames: AlsaTestSupport.leadNames(8), sampleRateHz: 500, format: .s16LE,
            gainMicrovoltsPerLSB: 1, periodFrames: 64, bufferFrames: 256,
            options: AlsaCaptureOptions(
                configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url), zeroRunEndsStream: false))
        #expect(source.zeroRunEndFrames == 0)
        let log = try source.readAll(maxFrames: 128, limit: 200)
        #expect(!log.ended)
        #expect(log.frames == 300)
        #expect(log.gapFrames > 10 * 500)  // far past the 2 s that would have ended it
        source.stop()
        var buffer = [Float](repeating: 0, count: 8)
        let chunk = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0, maxFrames: 1) }
        #expect(chunk == SourceChunk(frames: 0, event: .endOfStream, captureTimeNanoseconds: chunk.captureTimeNanoseconds))
    }

    @Test("zero-run detection off: the padding is delivered as zeros")
    func zeroRunDetectionOff() throws {
        let url = AlsaTestSupport.scratchFile("nodetect")
        try AlsaTestSupport.writeRaw(url, format: .s32LE, channels: 8, frames: 100) { f, c in Int32(f * 8 + c + 1) }
        let source = try AlsaCaptureSource(
            device: "ecgsim", channelNames: AlsaTestSupport.leadNames(8), sampleRateHz: 1000, format: .s32LE,
            gainMicrovoltsPerLSB: 1000, periodFrames: 64, bufferFrames: 256,
            options: AlsaCaptureOptions(
                configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url), zeroRunGapMilliseconds: nil))
        let log = try source.readAll(maxFrames: 250, limit: 100, untilFrames: 2000)
        #expect(log.frames >= 2000)
        #expect(log.events.isEmpty)
        #expect(log.samples[0..<800] == ArraySlice((0..<800).map { Float($0 + 1) }))
        #expect(log.samples[800...].allSatisfy { $0 == 0 })
        #expect(log.chunks.allSatisfy { $0.frames > 0 && $0.frames <= 250 })
    }

    @Test("reads more frames than the buffer holds in chunks of at most the buffer")
    func readsLargerThanTheBuffer() throws {
        let url = AlsaTestSupport.scratchFile("large")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: 8, frames: 1000) { f, c in Int32(f % 20000 + c + 1) }
        let source = try AlsaCaptureSource(
            device: "ecgsim", channelNames: AlsaTestSupport.leadNames(8), sampleRateHz: 500, format: .s16LE,
            gainMicrovoltsPerLSB: 1000, periodFrames: 50, bufferFrames: 200,
            options: AlsaCaptureOptions(configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url)))
        let log = try source.readAll(maxFrames: 5000)
        #expect(log.frames == 1000)
        #expect(log.chunks.allSatisfy { $0.frames <= 200 })
        #expect(log.samples.enumerated().allSatisfy { k, v in v == Float(k / 8 % 20000 + k % 8 + 1) })
        #expect(log.ended)
    }

    @Test("reading allocates nothing in the steady state")
    func readAllocatesNothing() throws {
        #expect(vq_allocation_counter_available() == 1)
        let url = AlsaTestSupport.scratchFile("alloc")
        try AlsaTestSupport.writeRaw(url, format: .s16LE, channels: 12, frames: 20_000) { f, c in Int32(f % 30000 + c + 1) }
        let source = try AlsaCaptureSource(
            device: "ecgsim", channelNames: AlsaTestSupport.leadNames(12), sampleRateHz: 500, format: .s16LE,
            gainMicrovoltsPerLSB: 1, periodFrames: 64, bufferFrames: 256,
            options: AlsaCaptureOptions(configuration: AlsaTestSupport.fileDeviceConfiguration(infile: url)))
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 100 * 12)
        defer { buffer.deallocate() }
        _ = try source.read(into: buffer, maxFrames: 100)  // warm up (starts the device)
        var frames = 0
        vq_allocation_counter_start()
        for _ in 0..<100 { frames += try source.read(into: buffer, maxFrames: 100).frames }
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)
        #expect(frames >= 100 * 50)  // 100 or the rest of a 256-frame device read per call
    }
}
