import CVentriqAllocationCounter
import CVentriqKernels
import Foundation
import Testing
import VentriqModel
import VentriqTestSupport
@testable import VentriqEngine

/// `Interpreter(threads:)`: the same bits as one thread, no allocation per window on any thread,
/// and workers that are started once and joined when the interpreter goes.
///
/// Serialized: the teardown test reads the process-wide count of live pool workers, which only
/// this suite changes.
@Suite("Multi-threaded invoke", .serialized)
struct ThreadingTests {
    enum TestModel: String, CaseIterable, CustomTestStringConvertible {
        /// The bundled float model.
        case float
        /// The bundled int8 model (int8 Linears and int8 attention cores, vq_attention_s8).
        case int8
        /// A copy of the bundled int8 model with its attention cores in float (the float
        /// attention op beside int8 Linears).
        case int8FloatAttention

        var testDescription: String { rawValue }

        func load() throws -> Model {
            switch self {
            case .float: return try Model(contentsOf: TestEnvironment.defaultModel)
            case .int8: return try Model(contentsOf: ThreadingTests.int8Model)
            case .int8FloatAttention: return try Model(contentsOf: ThreadingTests.int8FloatAttentionModel())
            }
        }
    }

    static var int8Model: URL { TestEnvironment.modelsDirectory.appendingPathComponent("ventriq-compact-int8.safetensors") }

    /// A copy of the bundled int8 model whose quantization metadata lists every
    /// "blocks.N.attn.core" as float32 (the cores have no weights, so only the metadata changes),
    /// written once per process.
    static func int8FloatAttentionModel() throws -> URL {
        try cachedInt8FloatAttentionModel.get()
    }

    private static let cachedInt8FloatAttentionModel: Result<URL, any Error> = Result {
        let source = try SafeTensorsFile(contentsOf: int8Model)
        var metadata = source.metadata
        var quantization = try JSONDecoder().decode(QuantizationInfo.self, from: Data(metadata["quantization"]!.utf8))
        for i in quantization.layers.indices where quantization.layers[i].name.hasSuffix(".attn.core") {
            quantization.layers[i].precision = "float32"
        }
        metadata["quantization"] = String(decoding: try JSONEncoder().encode(quantization), as: UTF8.self)
        var writer = SafeTensorsWriter(metadata: metadata)
        for t in source.tensors {
            let bytes = try source.withUnsafeBytes(of: t.name) { [UInt8]($0) }
            try writer.add(t.name, dtype: t.dtype, shape: t.shape, bytes: bytes)
        }
        let url = try TestEnvironment.makeTemporaryDirectory("ventriq-threads").appendingPathComponent("int8-float-attention.safetensors")
        try writer.write(to: url)
        return url
    }

    /// Every named stage and every output of the first `windows` golden windows, as bit patterns
    /// (so that any difference, NaN included, fails the comparison).
    static func run(_ interpreter: Interpreter, windows: Int = 2) throws -> [[UInt32]] {
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let input = try golden.floats("input.preprocessed")
        let count = try interpreter.withInput { $0.count }
        var results: [[UInt32]] = []
        for w in 0..<windows {
            try interpreter.withInput { _ = $0.update(fromContentsOf: input[(w * count)..<((w + 1) * count)]) }
            var bits: [UInt32] = []
            try interpreter.invoke(stageObserver: { _, view in bits += view.map(\.bitPattern) })
            try interpreter.withOutputs { out in
                for view in [out.embedding, out.regression, out.logits, out.probabilities] { bits += view.map(\.bitPattern) }
            }
            results.append(bits)
        }
        return results
    }

    @Test("2 and 3 threads give one thread's bits at every stage and output",
          arguments: TestModel.allCases, [KernelChoice.automatic, .reference])
    func bitIdentical(model testModel: TestModel, kernels: KernelChoice) throws {
        let model = try testModel.load()
        let one = try Interpreter.prepared(model: model, kernels: kernels)
        let expected = try Self.run(one)
        #expect(one.graph.ops.contains {
            if case .int8Attention = $0 { return true }
            return false
        } == (testModel == .int8))
        for threads in [2, 3] {
            let interpreter = try Interpreter.prepared(model: model, kernels: kernels, threads: threads)
            #expect(interpreter.threads == threads)
            let got = try Self.run(interpreter)
            #expect(got.count == expected.count)
            for (w, (a, b)) in zip(got, expected).enumerated() {
                let differing = zip(a, b).filter { $0 != $1 }.count
                #expect(a.count == b.count && differing == 0,
                        "\(testModel) \(interpreter.kernelName!) \(threads) threads, window \(w): \(differing) of \(b.count) values differ")
            }
        }
    }

    @Test("invoke with 2 and 3 threads allocates nothing, on the calling thread or on any worker",
          arguments: [TestModel.float, .int8])
    func zeroAllocations(model testModel: TestModel) throws {
        #expect(vq_allocation_counter_available() == 1)
        let model = try testModel.load()
        for threads in [2, 3] {
            let interpreter = try Interpreter.prepared(model: model, threads: threads)
            try interpreter.withInput { buf in
                for i in buf.indices { buf[i] = Float(sin(Double(i) * 0.01)) }
            }
            try interpreter.invoke()  // warm-up (lazy runtime initialisation is not the engine's)
            let counts = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: threads)
            defer { counts.deallocate() }
            counts.initialize(repeating: .max)
            interpreter.runOnEachThread { thread in if thread > 0 { vq_allocation_counter_start() } }
            vq_allocation_counter_start()
            for _ in 0..<5 { try interpreter.invoke() }
            vq_allocation_counter_stop()
            counts[0] = vq_allocation_counter_allocations()
            interpreter.runOnEachThread { thread in
                guard thread > 0 else { return }
                vq_allocation_counter_stop()
                counts[thread] = vq_allocation_counter_allocations()
            }
            #expect(Array(counts) == [UInt64](repeating: 0, count: threads), "\(testModel), \(threads) threads: allocations per thread")

            // The workers' counters work: an Array made on each thread is counted there.
            counts.update(repeating: 0)
            interpreter.runOnEachThread { thread in
                vq_allocation_counter_start()
                let array = [Float](repeating: 1, count: 1000 + Int(vq_allocation_counter_bytes() % 2))
                vq_allocation_counter_stop()
                counts[thread] = array.isEmpty ? 0 : vq_allocation_counter_allocations()
            }
            #expect(counts.allSatisfy { $0 >= 1 }, "allocation counting on every thread: \(Array(counts))")
        }
    }

    @Test("runOnEachThread runs its body once on every thread, and on the caller alone for one thread")
    func eachThread() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        for threads in [1, 2, 4] {
            let interpreter = try Interpreter.prepared(model: model, threads: threads)
            let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
            defer { seen.deallocate() }
            seen.initialize(repeating: 0)
            let ids = UnsafeMutableBufferPointer<pthread_t>.allocate(capacity: threads)
            defer { ids.deallocate() }
            interpreter.runOnEachThread { thread in
                seen[thread] += 1
                ids[thread] = pthread_self()
            }
            #expect(Array(seen) == [Int](repeating: 1, count: threads))
            #expect(pthread_equal(ids[0], pthread_self()) != 0)
            #expect(Set((0..<threads).map { ids[$0] }).count == threads)
        }
    }

    @Test("thread counts outside 1...64 are refused")
    func threadCountRange() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        #expect(throws: EngineError.invalidThreadCount(0)) { try Interpreter(model: model, threads: 0) }
        #expect(throws: EngineError.invalidThreadCount(65)) { try Interpreter(model: model, threads: 65) }
        #expect("\(EngineError.invalidThreadCount(0))" == "thread count 0 is out of range: use 1...64")
        #expect(Interpreter.maximumThreads == 64)
    }

    @Test("the plan gives attention one scratch slice per thread and stays conflict-free",
          arguments: [TestModel.float, .int8])
    func plan(model testModel: TestModel) throws {
        let model = try testModel.load()
        let a = model.config.architecture
        let one = try Interpreter.prepared(model: model)
        for threads in [1, 2, 3] {
            let interpreter = threads == 1 ? one : try Interpreter.prepared(model: model, threads: threads)
            #expect(interpreter.plan?.firstConflict() == nil)
            let scratch = try #require(interpreter.graph.tensors.first {
                $0.name == "blocks.0.attn.scores" || $0.name == "blocks.0.attn.workspace"
            })
            let t = Int32(a.nTokens), hd = Int32(a.embedDim / a.numHeads)
            let expected: Int
            switch (testModel, threads) {
            case (.int8, 1): expected = vq_attention_s8_workspace_size(t, hd)
            case (.int8, _): expected = vq_parallel_attention_s8_workspace_size(t, hd, Int32(a.numHeads), Int32(threads))
            case (_, 1): expected = a.nTokens * a.nTokens * 4
            default: expected = vq_parallel_attention_f32_scratch(t, Int32(a.numHeads), Int32(threads)) * 4
            }
            #expect(scratch.byteCount == expected, "\(testModel), \(threads) threads: \(scratch.name)")
            print("arena [\(testModel), \(threads) threads]: activations \(interpreter.memory!.activationBytes) B, \(scratch.name) \(scratch.byteCount) B")
        }
    }

    @Test("interpreters join their workers: none is left after many are created, used and destroyed")
    func teardown() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let before = Int(vq_pool_live_workers())
        for i in 0..<24 {
            let threads = 2 + i % 3
            do {
                let interpreter = try Interpreter.prepared(model: model, threads: threads)
                #expect(Int(vq_pool_live_workers()) == before + threads - 1)
                if i % 2 == 0 { try interpreter.invoke() }
            }
            #expect(Int(vq_pool_live_workers()) == before, "after interpreter \(i) (\(threads) threads) was released")
        }
        // Never prepared: no pool at all.
        _ = try Interpreter(model: model, threads: 4)
        #expect(Int(vq_pool_live_workers()) == before)
    }
}
