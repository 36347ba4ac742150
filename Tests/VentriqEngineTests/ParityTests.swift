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

    static func relativeError(_ a: UnsafeBufferPointer<Float>, _ b: ArraySlice<Float>) -> Float {
        precondition(a.count == b.count)
        var maxDiff: Float = 0, scale: Float = 0
        for (x, y) in zip(a, b) {
            maxDiff = max(maxDiff, abs(x - y))
            scale = max(scale, abs(y))
        }
        return maxDiff / max(scale, .leastNormalMagnitude)
    }

    @Test("every stage of every golden window within 1e-4")
    func goldenStages() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let interpreter = try Interpreter.prepared(model: model)
        let input = try golden.floats("input.preprocessed")
        let windows = try golden.info("input.preprocessed").shape[0]
        let per = input.count / windows
        var stageValues: [String: [Float]] = [:]
        for name in ["patch_embed", "blocks.0", "blocks.1", "blocks.2", "embedding"] {
            stageValues[name] = try golden.floats("stage.\(name)")
        }
        let outputs = ["regression", "logits", "probabilities"]
        let outputValues = try Dictionary(uniqueKeysWithValues: outputs.map { ($0, try golden.floats("output.\($0)")) })
        var worst: [String: Float] = [:]
        for w in 0..<windows {
            try input[(w * per)..<((w + 1) * per)].withUnsafeBufferPointer { try interpreter.invoke($0) }
            // Re-run with the observer to read the stages (the outputs are the same).
            try interpreter.invoke { name, view in
                let ref = stageValues[name]!
                let n = ref.count / windows
                worst[name] = max(worst[name] ?? 0, Self.relativeError(view, ref[(w * n)..<((w + 1) * n)]))
            }
            try interpreter.withOutputs { out in
                for (name, view) in [("regression", out.regression), ("logits", out.logits), ("probabilities", out.probabilities)] {
                    let ref = outputValues[name]!
                    let n = ref.count / windows
                    worst[name] = max(worst[name] ?? 0, Self.relativeError(view, ref[(w * n)..<((w + 1) * n)]))
                }
            }
        }
        #expect(worst.count == 8)
        for (name, err) in worst.sorted(by: { $0.key < $1.key }) {
            print("parity \(name): max relative error \(err)")
            #expect(err <= Self.tolerance, "stage \(name): relative error \(err)")
        }
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
