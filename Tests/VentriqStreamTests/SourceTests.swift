import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqStream
import Ventriq

@Suite("File descriptor and replay sources", .serialized)
struct SourceTests {
    static let names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]

    /// A pipe whose write end gets `bytes` from a background thread, then closes.
    static func pipe(_ bytes: [UInt8]) -> Int32 {
        var fds: [Int32] = [0, 0]
        precondition(Glibc.pipe(&fds) == 0)
        let writeEnd = fds[1]
        Thread.detachNewThread {
            bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let w = write(writeEnd, raw.baseAddress! + done, raw.count - done)
                    if w <= 0 { break }
                    done += w
                }
            }
            close(writeEnd)
        }
        return fds[0]
    }

    static func drain(_ source: SampleSource) throws -> (samples: [Float], events: [SourceEvent]) {
        var samples: [Float] = [], events: [SourceEvent] = []
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 256 * source.channelCount)
        defer { buffer.deallocate() }
        while true {
            let chunk = try source.read(into: buffer, maxFrames: 256)
            samples += buffer[0..<(chunk.frames * source.channelCount)]
            if let e = chunk.event { events.append(e); if e == .endOfStream { break } }
        }
        return (samples, events)
    }

    @Test("int16 frames scaled by the gain; a truncated final frame is a gap, then end of stream")
    func int16() throws {
        var bytes: [UInt8] = []
        for i in 0..<(100 * 12) { withUnsafeBytes(of: Int16(i - 600).littleEndian) { bytes += $0 } }
        bytes += [1, 2, 3]  // 3 bytes of a 24-byte frame
        let fd = Self.pipe(bytes)
        defer { close(fd) }
        let source = try FileDescriptorSource(descriptor: fd, name: "fd:\(fd)", format: .s16LE, channelNames: Self.names,
                                              sampleRateHz: 500, gainMicrovoltsPerLSB: 2.5)
        let (samples, events) = try Self.drain(source)
        #expect(samples.count == 1200)
        #expect(samples[0] == Float(Double(-600) * 0.0025) && samples[1199] == Float(Double(599) * 0.0025))
        #expect(events == [.gap(frames: 1, reason: "truncated final frame: 3 of 24 bytes"), .endOfStream])
    }

    @Test("float32 frames pass NaN through (the runner drops that window as invalid samples)")
    func float32NaN() throws {
        var values = [Float](repeating: 0.25, count: 12 * 3000)
        values[12 * 2600 + 5] = .nan
        let bytes = values.withUnsafeBytes { Array($0) }
        let fd = Self.pipe(bytes)
        defer { close(fd) }
        let source = try FileDescriptorSource(descriptor: fd, name: "fd", format: .float32LE, channelNames: Self.names,
                                              sampleRateHz: 500, gainMicrovoltsPerLSB: nil)
        let (lines, summary) = try StreamRunnerTests.run(source, StreamSettings(hopSeconds: 0.5, qualityGate: false))
        // Windows start at 0, 250, 500: 6 s of data hold 3 windows of 5 s; the NaN at frame 2600
        // lies in the ones starting at 0? no: [0, 2500) is clean, [250, 2750) and [500, 3000) hold it.
        #expect(summary.windowsScored == 1)
        #expect(summary.dropped[.invalidSamples] == 2)
        #expect(lines.filter { $0["status"] as? String == "dropped" }.count == 2)
    }

    @Test("a stalled source reports a gap instead of hanging")
    func stall() throws {
        var fds: [Int32] = [0, 0]
        #expect(Glibc.pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let source = try FileDescriptorSource(descriptor: fds[0], name: "fd", format: .s16LE, channelNames: Self.names,
                                              sampleRateHz: 500, gainMicrovoltsPerLSB: 1, stallMilliseconds: 50)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 12 * 16)
        defer { buffer.deallocate() }
        let chunk = try source.read(into: buffer, maxFrames: 16)
        #expect(chunk.frames == 0)
        #expect(chunk.event == .gap(frames: 25, reason: "no data for 50 ms"))
    }

    @Test("a closed descriptor and a missing gain are refused")
    func badDescriptors() {
        #expect(throws: SourceError.self) {
            try FileDescriptorSource(descriptor: 987, name: "fd:987", format: .s16LE, channelNames: Self.names, sampleRateHz: 500, gainMicrovoltsPerLSB: 1)
        }
        #expect { try FileDescriptorSource(descriptor: 0, name: "stdin", format: .s32LE, channelNames: Self.names, sampleRateHz: 500, gainMicrovoltsPerLSB: nil) } throws: {
            "\($0)".contains("positive gain")
        }
    }

    @Test("real-time replay is paced; 10x replay is faster")
    func pacing() throws {
        let recording = try RecordingReader.read(TestEnvironment.recordingsDirectory.appendingPathComponent("normal_00252.hea"))
        var short = recording
        short.channels = recording.channels.map { Channel(name: $0.name, unit: $0.unit, samples: Array($0.samples.prefix(250))) }
        short.sampleCount = 250  // 0.5 s
        for (speed, low, high) in [(1.0, 0.4, 2.0), (10.0, 0.0, 0.3)] {
            let source = try ReplaySource(recording: short, speed: speed)
            let t0 = Date()
            _ = try Self.drain(source)
            let elapsed = Date().timeIntervalSince(t0)
            #expect(elapsed >= low && elapsed < high, "speed \(speed): \(elapsed) s")
        }
    }
}
