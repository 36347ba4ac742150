import Metrics
import MetricsTestKit
import Testing
import VentriqTestSupport
@testable import VentriqStream
import Ventriq

/// swift-metrics: a daemon bootstraps its backend (Prometheus, StatsD, ...) and gets these.
@Suite("Stream metrics")
struct StreamMetricsTests {
    @Test("windows scored, dropped by reason and the latency timer reach the metrics backend")
    func counters() throws {
        let metrics = TestMetrics()  // passed to the runner: no global bootstrap in a shared test process
        let recording = try RecordingReader.read(StreamRunnerTests.sample)
        var broken = recording
        broken.channels[3].samples[4000] = .nan  // drops the windows that contain sample 4000
        var settings = StreamSettings(hopSeconds: 1, qualityGate: false)
        settings.metricDimensions = [("test", "counters")]
        _ = try StreamRunnerTests.run(ReplaySource(recording: broken, speed: nil), settings, metrics: metrics)
        // Windows start every 500 samples; those starting at 2000 and 2500 hold sample 4000.
        #expect(try metrics.expectCounter("ventriq_windows_scored", [("test", "counters")]).totalValue == 4)
        #expect(try metrics.expectCounter("ventriq_windows_dropped", [("test", "counters"), ("reason", "invalid_samples")]).totalValue == 2)
        #expect(try metrics.expectTimer("ventriq_window_latency", [("test", "counters")]).values.count == 4)
    }
}
