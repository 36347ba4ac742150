import CVentriqAllocationCounter
import CoreMetrics
import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqStream
import Ventriq

@Suite("Stream runner", .serialized)
struct StreamRunnerTests {
    static let model = try! Model(contentsOf: TestEnvironment.defaultModel)
    static let sample = TestEnvironment.recordingsDirectory.appendingPathComponent("anterior_mi_00190.hea")

    /// Runs a stream into a temporary file; returns its JSON lines and the summary.
    static func run(_ source: SampleSource, _ settings: StreamSettings, metrics: MetricsFactory? = nil,
                    onWindow: ((Int, InterpreterOutputs) -> Void)? = nil) throws -> ([[String: Any]], StreamSummary) {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.jsonl").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let runner = try StreamRunner(model: model, source: source, settings: settings, output: fd, metricsFactory: metrics)
        runner.onWindow = onWindow
        let summary = try runner.run()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        return (lines, summary)
    }

    @Test("replayed windows score exactly as `ventriq score` scores the same samples cut from the file")
    func replayParity() throws {
        let recording = try RecordingReader.read(Self.sample)
        var windows: [Int: [Float]] = [:]
        let (lines, summary) = try Self.run(ReplaySource(recording: recording, speed: nil), StreamSettings(hopSeconds: 1, qualityGate: false)) { start, out in
            windows[start] = Array(out.regression) + Array(out.logits)
        }
        // 10 s at 500 Hz, 5 s windows every 1 s: 6 windows.
        #expect(summary.windowsScored == 6 && summary.windowsTotal == 6)
        #expect(lines.count == 7 && lines.last!["summary"] != nil)
        let scorer = try Scorer(model: Self.model)
        for (start, values) in windows {
            var cut = recording
            cut.channels = recording.channels.map { Channel(name: $0.name, unit: $0.unit, samples: Array($0.samples[start..<(start + 2500)])) }
            cut.sampleCount = 2500
            var reference: [Float] = []
            _ = try scorer.score(cut) { _, out in reference = Array(out.regression) + Array(out.logits) }
            #expect(values == reference, "window at \(start)")
        }
    }

    @Test("steady state allocates nothing per window")
    func zeroAllocations() throws {
        let recording = try RecordingReader.read(Self.sample)
        var allocations: UInt64 = 0
        var counted = 0
        _ = try Self.run(ReplaySource(recording: recording, speed: nil, repeatCount: 6), StreamSettings(hopSeconds: 0.5, qualityGate: false)) { start, _ in
            if start == 2 * 250 { vq_allocation_counter_start() }
            if start == 2 * 250 + 60 * 250 {
                vq_allocation_counter_stop()
                allocations = vq_allocation_counter_allocations()
                counted = 60
            }
        }
        #expect(counted == 60)
        #expect(allocations == 0, "\(allocations) allocations over 60 windows")
    }

    @Test("a 1 kHz source is resampled per window; every window accounted for")
    func resampledSource() throws {
        let recording = try RecordingReader.read(Self.sample)
        var fast = recording
        let up = try Resampler(fromHz: 500, toHz: 1000)
        fast.channels = recording.channels.map { Channel(name: $0.name, unit: $0.unit, samples: up.resample($0.samples.map(Double.init)).map(Float.init)) }
        fast.samplingRateHz = 1000
        fast.sampleCount = fast.channels[0].samples.count
        let (lines, summary) = try Self.run(ReplaySource(recording: fast, speed: nil), StreamSettings(hopSeconds: 2.5, qualityGate: false))
        #expect(summary.windowsScored == 3)
        let first = lines[0]
        #expect((first["window"] as! [String: Any])["end_sample"] as? Int == 5000)
    }

    @Test("a flat lead gates its windows: each still yields a line saying why")
    func qualityGate() throws {
        var recording = try RecordingReader.read(Self.sample)
        let v3 = recording.channels.firstIndex { $0.name == "V3" }!
        for i in 0..<2500 { recording.channels[v3].samples[i] = 0.25 }  // lead-off in the first 5 s
        let (lines, summary) = try Self.run(ReplaySource(recording: recording, speed: nil), StreamSettings(hopSeconds: 5, qualityGate: true))
        #expect(summary.windowsScored == 1)
        #expect(summary.dropped[.qualityGate] == 1)
        #expect(lines[0]["status"] as? String == "gated" && lines[0]["reason"] as? String == "quality_gate")
        #expect((lines[0]["quality"] as! [String: String])["V3"] == "flat")
        #expect(lines[1]["status"] as? String == "scored")
    }

    @Test("a scorer slower than a paced source drops the oldest windows as backlog; every window is accounted for")
    func backlog() throws {
        let recording = try RecordingReader.read(Self.sample)
        // 200 s of signal delivered in about 0.1 s: the scorer cannot keep up with a small ring.
        let source = try ReplaySource(recording: recording, speed: 2000, repeatCount: 20)
        let (lines, summary) = try Self.run(source, StreamSettings(hopSeconds: 0.5, ringSeconds: 11, qualityGate: false))
        let expected = (100_000 - 2500) / 250 + 1
        #expect(summary.windowsTotal == expected)
        #expect(lines.count == expected + 1)
        #expect((summary.dropped[.backlog] ?? 0) > 0)
        #expect(summary.windowsScored > 0)
    }
}
