import CVentriqAllocationCounter
import Foundation
import Testing
import Ventriq
import VentriqTestSupport

/// The whole pipeline (reader -> leads -> resampling -> windows -> conditioning -> engine ->
/// aggregation) against the Python reference scorer and the golden vectors.
@Suite("Scorer", .serialized)
struct ScorerTests {
    static let model = try! Model(contentsOf: TestEnvironment.defaultModel)

    static func examples() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: TestEnvironment.recordingsDirectory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "hea" }.sorted { $0.path < $1.path }
    }

    static func relativeDifference(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-12) }

    @Test("the bundled recordings score as the Python reference scorer scores them")
    func matchesPythonScorer() throws {
        let urls = try Self.examples()
        #expect(urls.count == 5)
        let run = try TestEnvironment.runPython(
            "import sys; from ventriq_training.score import main; sys.exit(main(sys.argv[1:]))",
            arguments: [TestEnvironment.defaultModel.path] + urls.map(\.path) + ["--json"])
        let reference = run.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(reference.count == urls.count)
        let scorer = try Scorer(model: Self.model)
        var worstEstimate = 0.0, worstProbability = 0.0
        for (url, ref) in zip(urls, reference) {
            let result = try scorer.score(contentsOf: url, options: ReadOptions(verifyChecksums: true))
            let refEstimates = ref["estimates"] as! [String: [String: Any]]
            for e in result.estimates {
                let v = refEstimates[e.name]!["value"] as! Double
                worstEstimate = max(worstEstimate, Self.relativeDifference(e.value, v))
                let interval = refEstimates[e.name]!["interval_80"] as! [Double]
                #expect(abs(e.interval80[0] - interval[0]) < 1e-3 && abs(e.interval80[1] - interval[1]) < 1e-3)
            }
            let refProbabilities = ref["probabilities"] as! [String: Double]
            for r in result.risks { worstProbability = max(worstProbability, abs(r.probability - refProbabilities[r.name]!)) }
            #expect(result.flags == ref["flags"] as! [String], "\(url.lastPathComponent)")
            #expect(result.windows.count == ref["windows"] as! Int)
            #expect(result.quality.allSatisfy { $0.status == "ok" && !$0.derived })
            #expect(result.model.sha256 == Self.model.sha256)
        }
        print("scorer vs Python: max relative estimate difference \(worstEstimate), max probability difference \(worstProbability)")
        #expect(worstEstimate <= 1e-4)
        #expect(worstProbability <= 1e-5)
    }

    @Test("raw golden windows give the golden outputs through conditioning and the engine")
    func goldenRawWindows() throws {
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let raw = try golden.floats("input.raw_mv")
        let regression = try golden.floats("output.regression")
        let leads = Self.model.config.architecture.leads
        let n = 2500
        let scorer = try Scorer(model: Self.model)
        for w in 0..<5 {
            let channels = leads.enumerated().map { k, lead in
                Channel(name: lead, unit: "mV", samples: Array(raw[(w * 12 + k) * n..<(w * 12 + k + 1) * n]))
            }
            let result = try scorer.score(Recording(name: "golden\(w)", source: "golden", samplingRateHz: 500, channels: channels, sampleCount: n))
            for (k, e) in result.estimates.enumerated() {
                #expect(Self.relativeDifference(e.value, Double(regression[w * 3 + k])) <= 1e-4)
            }
        }
    }

    @Test("scoring a window allocates nothing")
    func windowPathAllocatesNothing() throws {
        let scorer = try Scorer(model: Self.model)
        let recording = try RecordingReader.read(try Self.examples()[0])
        let (signal, count, _) = try scorer.modelSignal(recording)
        try scorer.scoreWindow(signal, sampleCount: count, start: 0)
        vq_allocation_counter_start()
        for k in 0..<2 { try scorer.scoreWindow(signal, sampleCount: count, start: k * 2500) }
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)
    }

    @Test("only I, II and V1-V6 recorded: the limb leads are derived and reported")
    func derivedLimbLeads() throws {
        let full = try RecordingReader.read(try Self.examples()[0])
        var partial = full
        partial.channels = full.channels.filter { !["III", "aVR", "aVL", "aVF"].contains($0.name) }
        partial.channels.reverse()  // any channel order
        let scorer = try Scorer(model: Self.model)
        let a = try scorer.score(full), b = try scorer.score(partial)
        #expect(b.quality.filter(\.derived).map(\.lead) == ["III", "aVR", "aVL", "aVF"])
        for (x, y) in zip(a.estimates, b.estimates) { #expect(abs(x.value - y.value) < 0.05 * max(1, abs(x.value))) }
    }

    @Test("a recording at 1 kHz is resampled to the model's rate")
    func resampled() throws {
        let original = try RecordingReader.read(try Self.examples()[0])
        var fast = original
        let up = try Resampler(fromHz: 500, toHz: 1000)
        fast.channels = original.channels.map { c in
            Channel(name: c.name, unit: c.unit, samples: up.resample(c.samples.map(Double.init)).map(Float.init))
        }
        fast.samplingRateHz = 1000
        fast.sampleCount = fast.channels[0].samples.count
        let scorer = try Scorer(model: Self.model)
        let a = try scorer.score(original), b = try scorer.score(fast)
        #expect(b.windows.resampled && b.windows.inputRateHz == 1000 && b.windows.count == a.windows.count)
        for (x, y) in zip(a.estimates, b.estimates) { #expect(abs(x.value - y.value) < 0.05 * max(1, abs(x.value))) }
    }

    @Test("bad recordings get specific errors")
    func badRecordings() throws {
        let scorer = try Scorer(model: Self.model)
        let full = try RecordingReader.read(try Self.examples()[0])

        var short = full
        short.channels = full.channels.map { Channel(name: $0.name, unit: $0.unit, samples: Array($0.samples.prefix(1000))) }
        short.sampleCount = 1000
        #expect { try scorer.score(short) } throws: { "\($0)".contains("shorter than one window: 1000 samples at 500.0 Hz") }

        var missing = full
        missing.channels = full.channels.filter { !["V2", "V5", "I"].contains($0.name) }
        #expect { try scorer.score(missing) } throws: { "\($0)".contains("lacks leads I, V2, V5") }

        var nan = full
        nan.channels[7].samples[1234] = .nan
        #expect { try scorer.score(nan) } throws: { "\($0)".contains("channel V2 has a non-finite value (nan) at sample 1234 (2.468 s)") }

        var odd = full
        odd.samplingRateHz = 499.77
        #expect { try scorer.score(odd) } throws: { "\($0)".contains("cannot resample from 499.77 Hz to 500.0 Hz") }
    }
}
