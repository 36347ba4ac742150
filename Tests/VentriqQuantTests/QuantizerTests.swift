import CVentriqAllocationCounter
import Foundation
import Testing
import Ventriq
import VentriqTestSupport
@testable import VentriqQuant

/// Small calibration and held-out sets made by the trainer's export from the default model's
/// own cohort config (the same code `make sets` runs), once per test process.
enum QuantTestSets {
    struct Sets: Sendable {
        var directory: URL
        var calibration: URL { directory.appendingPathComponent("calibration.safetensors") }
        var heldout: URL { directory.appendingPathComponent("heldout.safetensors") }
    }

    static let shared: Result<Sets, Error> = Result {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-quant-sets")
        try TestEnvironment.runPython(
            "import sys; from ventriq_training.export import main; sys.exit(main(sys.argv[1:]))",
            arguments: ["--sets-from", TestEnvironment.defaultModel.path, "--sets-dir", dir.path,
                        "--n-calibration", "24", "--n-heldout", "24"])
        return Sets(directory: dir)
    }

    static func get() throws -> Sets { try shared.get() }
}

@Suite("Quantizer", .serialized)
struct QuantizerTests {
    static let float = try! Model(contentsOf: TestEnvironment.defaultModel)

    /// A builder over the float model with minmax scales from the test calibration set, and that set.
    static func minmaxBuilder() throws -> (Int8ModelBuilder, CalibrationSet) {
        let calibration = try CalibrationSet.load(try QuantTestSets.get().calibration, model: float)
        let stats = try ActivationCalibrator.collect(Interpreter.prepared(model: float), windows: calibration.windows)
        return (Int8ModelBuilder(source: float, statistics: stats, method: .minmax), calibration)
    }

    @Test("end to end: calibrate, report, sign, write; the signed int8 model loads, verifies and tracks the float model")
    func roundTrip() throws {
        let sets = try QuantTestSets.get()
        let calibration = try CalibrationSet.load(sets.calibration, model: Self.float)
        let heldout = try HeldoutSet.load(sets.heldout, model: Self.float)
        var options = QuantizeOptions()
        options.gate = AccuracyGate(maxR2Drop: 1, maxAUROCDrop: 1, minMeanCosine: 0.99)  // tiny sets: loose gate
        var outcome = try Quantizer.run(source: Self.float, calibration: calibration, heldout: heldout, options: options)
        print(outcome.report.table)
        #expect(outcome.violations.isEmpty)
        #expect(outcome.int8Layers.count == 16)  // 13 Linears and 3 attention cores
        #expect(outcome.int8Layers.filter { $0.hasSuffix(".attn.core") }.count == 3)
        #expect(outcome.report.meanCosine > 0.99)

        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = SigningKey.generate()
        try key.write(privateTo: dir.appendingPathComponent("k.key"), publicTo: dir.appendingPathComponent("k.pub"))
        _ = try ModelSignature.sign(writer: &outcome.writer, with: key)
        let url = dir.appendingPathComponent("int8.safetensors")
        try outcome.writer.write(to: url)

        let trusted = TrustedKeys(keys: [key.publicKey])
        let int8 = try Model(contentsOf: url, signatures: .require(trusted))
        #expect(int8.precision == .int8)
        #expect(int8.signature == .verified(try ModelSignature.verify(int8.file, trusting: trusted)))
        #expect(int8.file.metadata["source_sha256"] == Self.float.sha256)
        #expect(int8.file.fileSize < Self.float.file.fileSize / 2)
        let interpreter = try Interpreter.prepared(model: int8)
        let floatInterpreter = try Interpreter.prepared(model: Self.float)
        #expect(interpreter.memory!.arenaBytes < floatInterpreter.memory!.arenaBytes)

        // Golden windows: int8 embeddings close to float, int8 runs allocate nothing.
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let input = try golden.floats("input.preprocessed")
        let window = Array(input[0..<30000])
        try window.withUnsafeBufferPointer { try interpreter.invoke($0) }
        let e8 = try interpreter.withOutputs { Array($0.embedding) }
        try window.withUnsafeBufferPointer { try floatInterpreter.invoke($0) }
        let e32 = try floatInterpreter.withOutputs { Array($0.embedding) }
        #expect(AccuracyReport.cosine(e32, e8) > 0.99)
        vq_allocation_counter_start()
        try interpreter.invoke()
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)

        // Tampering: one weight byte changed -> refused.
        var bytes = try Data(contentsOf: url)
        let target = try int8.file.info("blocks.1.mlp.fc1.weight").byteRange.lowerBound + 7
        bytes[target] = bytes[target] == 5 ? 6 : 5
        let tampered = dir.appendingPathComponent("tampered.safetensors")
        try bytes.write(to: tampered)
        #expect { try Model(contentsOf: tampered, signatures: .require(trusted)) } throws: { "\($0)".contains("digest") || "\($0)".contains("tamper") }
        #expect { try Model(contentsOf: tampered, signatures: .allowUnsigned(trusted)) } throws: { _ in true }
        // Unsigned and untrusted: refused under .require, accepted with a warning under .allowUnsigned.
        #expect(throws: (any Error).self) { try Model(contentsOf: url, signatures: .require(TrustedKeys(keys: []))) }
        let lenient = try Model(contentsOf: url, signatures: .allowUnsigned(TrustedKeys(keys: [])))
        #expect(lenient.signature == .untrusted(keyID: key.id))
        #expect(lenient.signature.warning(for: url.path) != nil)
    }

    @Test("the gate fails on a deliberately broken calibration")
    func brokenCalibrationFailsGate() throws {
        let sets = try QuantTestSets.get()
        var calibration = try CalibrationSet.load(sets.calibration, model: Self.float)
        // Windows at 1 % of their amplitude: every activation scale comes out far too small.
        calibration.windows = calibration.windows.map { $0.map { $0 * 0.01 } }
        let heldout = try HeldoutSet.load(sets.heldout, model: Self.float)
        var options = QuantizeOptions()
        options.method = .minmax
        options.maxFloatLayers = 0
        let outcome = try Quantizer.run(source: Self.float, calibration: calibration, heldout: heldout, options: options)
        print(outcome.violations)
        #expect(!outcome.violations.isEmpty)
        #expect(outcome.violations.contains { $0.contains("cosine") })
    }

    @Test("bad calibration sets get specific errors")
    func badCalibration() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, windows: Int, value: Float = 0.5, nanAt: Int? = nil) throws -> URL {
            var values = [Float](repeating: value, count: windows * 30000)
            if let nanAt { values[nanAt] = .nan }
            var writer = SafeTensorsWriter()
            try writer.add("windows", shape: [windows, 12, 2500], floats: values)
            let url = dir.appendingPathComponent(name)
            try writer.write(to: url)
            return url
        }
        #expect { try CalibrationSet.load(write("empty.safetensors", windows: 0), model: Self.float) } throws: {
            "\($0)".contains("no calibration windows")
        }
        #expect { try CalibrationSet.load(write("nan.safetensors", windows: 2, nanAt: 30000 + 2500 * 3 + 17), model: Self.float) } throws: {
            "\($0)".contains("calibration window 1 holds a non-finite value (nan) at lead 3, sample 17")
        }
        let small = try CalibrationSet.load(write("small.safetensors", windows: 3), model: Self.float)
        let heldout = try HeldoutSet.load(try QuantTestSets.get().heldout, model: Self.float, limit: 4)
        #expect { try Quantizer.run(source: Self.float, calibration: small, heldout: heldout, options: QuantizeOptions()) } throws: {
            "\($0)".contains("3 windows; at least 8")
        }
        var wrong = SafeTensorsWriter()
        try wrong.add("windows", shape: [2, 12, 100], floats: [Float](repeating: 0, count: 2400))
        let wrongURL = dir.appendingPathComponent("wrong.safetensors")
        try wrong.write(to: wrongURL)
        #expect { try CalibrationSet.load(wrongURL, model: Self.float) } throws: { "\($0)".contains("[N, 12, 2500]") }
    }

    @Test("a float checkpoint with a missing tensor or a wrong shape is refused, naming the tensor")
    func badCheckpoint() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (label, mutate) in [("missing", { (n: String) -> [Int]? in n == "blocks.2.mlp.fc2.weight" ? nil : [] }),
                                ("shape", { (n: String) -> [Int]? in n == "blocks.0.attn.qkv.weight" ? [96, 288] : [] })] {
            var writer = SafeTensorsWriter(metadata: Self.float.file.metadata)
            for t in Self.float.file.tensors {
                guard let shape = mutate(t.name) else { continue }
                try writer.add(t.name, shape: shape.isEmpty ? t.shape : shape, floats: Self.float.file.floats(t.name))
            }
            let url = dir.appendingPathComponent("\(label).safetensors")
            try writer.write(to: url)
            let model = try Model(contentsOf: url)
            #expect { try Interpreter(model: model) } throws: {
                label == "missing" ? "\($0)".contains("blocks.2.mlp.fc2.weight") : "\($0)".contains("blocks.0.attn.qkv.weight")
            }
        }
    }

    @Test("attention cores are layers: per-block precision in the metadata and the graph; unknown --keep-float names refused")
    func attentionCores() throws {
        #expect(Int8ModelBuilder.layers(Self.float.config) == Int8ModelBuilder.linears(Self.float.config).flatMap {
            $0.hasSuffix(".attn.qkv") ? [$0, $0.replacingOccurrences(of: ".qkv", with: ".core")] : [$0]
        })
        let (builder, calibration) = try Self.minmaxBuilder()
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Block 1's core in float, the others in int8.
        let layers = Set(Int8ModelBuilder.layers(Self.float.config)).subtracting(["blocks.1.attn.core"])
        let url = dir.appendingPathComponent("mixed.safetensors")
        try builder.build(int8: layers, calibration: calibration).write(to: url)
        let model = try Model(contentsOf: url)
        let info = try #require(model.quantization)
        #expect(info.layers.first { $0.name == "blocks.1.attn.core" }?.precision == "float32")
        #expect(info.layers.first { $0.name == "blocks.2.attn.core" }?.precision == "int8")
        #expect(info.layers.first { $0.name == "blocks.2.attn.core" }?.inputThreshold == nil)
        let interpreter = try Interpreter.prepared(model: model)
        var kinds: [String] = []
        for op in interpreter.graph.ops {
            switch op {
            case .attention: kinds.append("float")
            case .int8Attention: kinds.append("int8")
            default: break
            }
        }
        #expect(kinds == ["int8", "float", "int8"])
        // It tracks the float model and runs allocation-free (the input is rewritten each time:
        // the planner reuses its bytes once the patch embedding has read it).
        let window = calibration.windows[0]
        let q = try Quantizer.embeddings(interpreter, [window])[0]
        let f = try Quantizer.embeddings(Interpreter.prepared(model: Self.float), [window])[0]
        #expect(AccuracyReport.cosine(f, q) > 0.999)
        try interpreter.withInput { input in
            for i in input.indices { input[i] = window[i] }
        }
        vq_allocation_counter_start()
        try interpreter.invoke()
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)

        var options = QuantizeOptions()
        options.keepFloat = ["blocks.7.attn.core"]
        #expect(throws: QuantizeError.self) {
            _ = try Quantizer.run(source: Self.float, calibration: calibration,
                                  heldout: HeldoutSet.load(QuantTestSets.get().heldout, model: Self.float), options: options)
        }
    }

    @Test("--max-float-layers 0 skips the sensitivity pass and keeps every layer in int8")
    func noSensitivityPass() throws {
        let sets = try QuantTestSets.get()
        var options = QuantizeOptions()
        options.maxFloatLayers = 0
        options.gate = AccuracyGate(maxR2Drop: 1, maxAUROCDrop: 1, minMeanCosine: 0.99)  // tiny sets: loose gate
        var messages: [String] = []
        let outcome = try Quantizer.run(source: Self.float, calibration: CalibrationSet.load(sets.calibration, model: Self.float),
                                        heldout: HeldoutSet.load(sets.heldout, model: Self.float), options: options) { messages.append($0) }
        #expect(outcome.sensitivity.isEmpty)
        #expect(outcome.int8Layers == Int8ModelBuilder.layers(Self.float.config) && outcome.floatLayers.isEmpty)
        #expect(messages.contains("sensitivity pass skipped (--max-float-layers 0)"))
        #expect(!messages.contains { $0.hasPrefix("sensitivity (1 - cosine") })
    }

    @Test("an int8 model with a zero, negative or NaN scale is refused by the engine")
    func badScales() throws {
        let (builder, calibration) = try Self.minmaxBuilder()
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (tensor, value) in [("blocks.0.attn.qkv.input_scale", Float(0)), ("blocks.1.attn.proj.output_scale", -1),
                                ("blocks.2.mlp.fc2.output_scale", .nan)] {
            let good = try builder.build(int8: Set(Int8ModelBuilder.linears(Self.float.config)), calibration: calibration)
            let url = dir.appendingPathComponent("good.safetensors")
            try good.write(to: url)
            let file = try SafeTensorsFile(contentsOf: url)
            var bad = SafeTensorsWriter(metadata: file.metadata)
            for t in file.tensors {
                switch t.dtype {
                case .i8: try bad.add(t.name, shape: t.shape, int8s: file.int8s(t.name))
                case .i32: try bad.add(t.name, shape: t.shape, int32s: file.int32s(t.name))
                default:
                    var v = try file.floats(t.name)
                    if t.name == tensor { v[0] = value }
                    try bad.add(t.name, shape: t.shape, floats: v)
                }
            }
            let badURL = dir.appendingPathComponent("bad.safetensors")
            try bad.write(to: badURL)
            #expect { try Interpreter.prepared(model: Model(contentsOf: badURL)) } throws: {
                "\($0)".contains(tensor) && "\($0)".contains("positive and finite")
            }
        }
    }

    @Test("calibration methods: minmax is the max; percentile, entropy and MSE clip rare outliers")
    func thresholds() {
        var rng = TestRandom(seed: 7)
        var values = (0..<100_000).map { _ in Float(rng.gaussian()) }
        values += [40, -35, 30]  // outliers
        let absMax = Double(values.map { abs($0) }.max()!)
        var h = AbsoluteHistogram(range: absMax)
        values.withUnsafeBufferPointer { h.add($0) }
        #expect(CalibrationMethod.minmax.threshold(h, absMax: absMax) == absMax)
        let p = CalibrationMethod.percentile(99.99).threshold(h, absMax: absMax)
        #expect(p > 3.5 && p < 6)
        let e = CalibrationMethod.entropy.threshold(h, absMax: absMax)
        #expect(e > 2 && e < 12)
        // MSE weighs 3 outliers' clipping error against 100,000 samples' rounding error and keeps
        // them; on the Gaussian alone it lands near the continuous optimum (about 3.9 sigma).
        #expect(CalibrationMethod.mse.threshold(h, absMax: absMax) <= absMax)
        let gaussian = (0..<100_000).map { _ in Float(rng.gaussian()) }
        let gMax = Double(gaussian.map { abs($0) }.max()!)
        var g = AbsoluteHistogram(range: gMax)
        gaussian.withUnsafeBufferPointer { g.add($0) }
        let m = CalibrationMethod.mse.threshold(g, absMax: gMax)
        #expect(m > 3.3 && m < 4.4, "mse threshold \(m)")
        // Without outliers, on a uniform distribution, every method keeps (nearly) the whole range.
        var u = AbsoluteHistogram(range: 1)
        let uniform = (0..<50_000).map { _ in Float(rng.uniform()) }
        uniform.withUnsafeBufferPointer { u.add($0) }
        for method in [CalibrationMethod.percentile(99.99), .entropy, .mse] {
            #expect(method.threshold(u, absMax: 1) > 0.85, "\(method.name)")
        }
    }

    @Test("the GELU table follows its formula and saturates at +-127")
    func geluTable() {
        let table = Int8ModelBuilder.geluTable(inputScale: 0.05, outputScale: 0.04)
        #expect(table.count == 256)
        #expect(table[128] == 0)
        for i in [0, 50, 128, 140, 200, 255] {
            let x = Double(i - 128) * 0.05
            let g = 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
            #expect(Int(table[i]) == Int(max(-127, min(127, (g / 0.04).rounded(.toNearestOrEven)))))
        }
        #expect(table[255] == 127)
    }

    @Test("R2 and AUROC as sklearn computes them")
    func metrics() {
        #expect(Metrics.r2(truth: [1, 2, 3, 4], predicted: [1, 2, 3, 4]) == 1)
        #expect(abs(Metrics.r2(truth: [1, 2, 3, 4], predicted: [2, 2, 3, 3]) - 0.6) < 1e-12)
        #expect(Metrics.auroc(labels: [0, 0, 1, 1], scores: [0.1, 0.4, 0.35, 0.8]) == 0.75)
        #expect(Metrics.auroc(labels: [0, 1, 0, 1], scores: [0.5, 0.5, 0.5, 0.5]) == 0.5)
        #expect(Metrics.auroc(labels: [0, 0], scores: [0.1, 0.2]).isNaN)
    }
}
