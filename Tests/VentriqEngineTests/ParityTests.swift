import CVentriqAllocationCounter
import Foundation
import Testing
import VentriqModel
import VentriqTestSupport
@testable import VentriqEngine

/// The engine against the golden vectors the trainer computed with PyTorch from the same file.
/// Error measure: max |swift - torch| over a stage divided by max |torch| of that stage.
@Suite("Float32 engine parity with PyTorch", .serialized)
struct ParityTests {
    static let tolerance: Float = 1e-4

    @Test("every stage of every golden window within 1e-4, with every kernel set this CPU runs",
          arguments: KernelChoice.allCases.filter(\.isAvailable))
    func goldenStages(kernels: KernelChoice) throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let interpreter = try Interpreter.prepared(model: model, kernels: kernels)
        #expect(kernels == .automatic || interpreter.kernelName == kernels.rawValue)
        let comparisons = try GoldenVectors.compare(interpreter, golden: golden)
        #expect(comparisons.map(\.stage) == ["patch_embed", "blocks.0", "blocks.1", "blocks.2", "embedding",
                                              "regression", "logits", "probabilities"])
        for c in comparisons {
            print("parity [\(interpreter.kernelName!)] \(c.stage): max abs error \(c.maxAbsoluteError), relative \(c.maxRelativeError)")
            #expect(c.maxRelativeError <= Self.tolerance, "stage \(c.stage): relative error \(c.maxRelativeError)")
        }
    }

    @Test("the comparison can fail: a perturbed weight breaks parity")
    func comparisonDetectsDifferences() throws {
        // Same model, one weight tensor scaled: the comparison must report it.
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try SafeTensorsFile(contentsOf: TestEnvironment.defaultModel)
        var writer = SafeTensorsWriter(metadata: source.metadata)
        for t in source.tensors {
            var values = try source.floats(t.name)
            if t.name == "blocks.1.mlp.fc2.weight" { values = values.map { $0 * 1.01 } }
            try writer.add(t.name, shape: t.shape, floats: values)
        }
        let url = dir.appendingPathComponent("perturbed.safetensors")
        try writer.write(to: url)
        let interpreter = try Interpreter.prepared(model: try Model(contentsOf: url))
        let comparisons = try GoldenVectors.compare(interpreter, golden: SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden))
        let byStage = Dictionary(uniqueKeysWithValues: comparisons.map { ($0.stage, $0.maxRelativeError) })
        #expect(byStage["blocks.0"]! <= Self.tolerance)
        #expect(byStage["blocks.1"]! > Self.tolerance)
    }

    @Test("invoke performs no heap allocation")
    func zeroAllocations() throws {
        #expect(vq_allocation_counter_available() == 1)
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let interpreter = try Interpreter.prepared(model: model)
        try interpreter.withInput { buf in
            for i in buf.indices { buf[i] = Float(sin(Double(i) * 0.01)) }
        }
        try interpreter.invoke()  // warm-up (lazy runtime initialisation is not the engine's)
        vq_allocation_counter_start()
        for _ in 0..<5 { try interpreter.invoke() }
        vq_allocation_counter_stop()
        #expect(vq_allocation_counter_allocations() == 0)
        // The counter itself works: an Array allocates.
        vq_allocation_counter_start()
        let array = [Float](repeating: 1, count: 1000 + Int(vq_allocation_counter_bytes() % 2))
        vq_allocation_counter_stop()
        #expect(array.count >= 1000)
        #expect(vq_allocation_counter_allocations() >= 1)
    }

    @Test("the arena plan is conflict-free and within 10 % of the live-set lower bound")
    func arena() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let interpreter = try Interpreter.prepared(model: model)
        let memory = try #require(interpreter.memory)
        #expect(interpreter.plan?.firstConflict() == nil)
        #expect(memory.activationBytes >= memory.lowerBoundBytes)
        #expect(Double(memory.activationBytes) <= 1.1 * Double(memory.lowerBoundBytes))
        #expect(memory.activationBytes < memory.unsharedBytes)
        print("arena: activations \(memory.activationBytes) B (lower bound \(memory.lowerBoundBytes) B, unshared \(memory.unsharedBytes) B), weights \(memory.weightBytes) B")
    }

    @Test("greedy and linear plans give identical outputs")
    func strategiesAgree() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let input = try golden.floats("input.preprocessed")
        let window = Array(input[0..<(12 * 2500)])
        var results: [[Float]] = []
        for strategy in MemoryPlanner.Strategy.allCases {
            let interpreter = try Interpreter.prepared(model: model, strategy: strategy)
            try window.withUnsafeBufferPointer { try interpreter.invoke($0) }
            results.append(try interpreter.withOutputs { Array($0.embedding) + Array($0.regression) + Array($0.logits) })
        }
        #expect(results[0] == results[1])
    }

    @Test("invoke before prepare and a wrong window size are errors")
    func misuse() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let interpreter = try Interpreter(model: model)
        #expect(throws: EngineError.notPrepared) { try interpreter.invoke() }
        try interpreter.prepare()
        let short = [Float](repeating: 0, count: 100)
        #expect(throws: EngineError.inputSize(expected: 30000, found: 100)) {
            try short.withUnsafeBufferPointer { try interpreter.invoke($0) }
        }
    }
}
