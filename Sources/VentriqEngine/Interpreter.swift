import CVentriqKernels
import Foundation
import VentriqModel

/// Runs one model on one window at a time, in fixed memory.
///
/// Lifecycle (as TensorFlow Lite Micro's interpreter): `init(model:)` builds the op graph and
/// checks every weight's shape against the model file; `prepare()` plans all intermediates into
/// one arena, allocates it once and packs the weights into its persistent tail; `invoke()` runs
/// the ops over arena pointers and performs no heap allocation. Calling `invoke` before
/// `prepare` throws.
///
/// Threads: with `threads` = N > 1, `prepare` also starts a pool of N - 1 worker threads (created
/// once, owned by the interpreter, joined in `deinit`) and each window's ops (GEMMs, attention,
/// the row and element-wise kernels; not the tiny heads) are split over the calling thread and
/// the workers, along their outputs only, so the results are bit-identical to one thread's;
/// `invoke` still allocates nothing, on any thread.
/// Attention's scratch holds one slice per thread, planned in the arena like any other tensor.
/// With 1 (the default) there is no pool and the ops are the single-threaded kernel calls.
///
/// Final class, not thread-safe: use one interpreter per thread (its workers are its own). It
/// keeps the model alive; the buffers handed to `withInput`, `withOutputs` and stage observers
/// are views into the arena, valid only inside the closure.
public final class Interpreter {
    public let model: Model
    public let graph: EncoderGraph
    public let strategy: MemoryPlanner.Strategy
    /// Which kernels `prepare` binds (the CPU's best by default).
    public let kernelChoice: KernelChoice
    /// Threads per window: the calling thread plus `threads - 1` pool workers.
    public let threads: Int
    /// The most threads an interpreter takes (VQ_POOL_MAX_THREADS).
    public static let maximumThreads = Int(VQ_POOL_MAX_THREADS)
    public private(set) var plan: MemoryPlanner.Plan?
    /// The kernel table bound at prepare: later process-wide selections do not affect this
    /// interpreter, so its results never change between windows.
    private var kernels: vq_kernel_table?
    private var arena: Arena?
    private var resolved: [ResolvedOp] = []
    private var stageViews: [(name: String, view: UnsafeBufferPointer<Float>)?] = []
    private var views = Views()
    /// The vq_pool of `threads` threads, started at prepare (nil for one thread).
    private var pool: OpaquePointer?

    /// - Parameters:
    ///   - strategy: `.greedy` (default) shares bytes between intermediates whose lifetimes do not
    ///     meet; `.linear` gives each its own (for comparison).
    ///   - kernels: `.automatic` (the widest ISA this CPU runs) or a specific one, e.g.
    ///     `.reference` to check the SIMD kernels against the scalar ones.
    ///   - threads: 1 (default) runs every op on the calling thread; 2...`maximumThreads` adds
    ///     that many minus one worker threads, started by `prepare`. Any other count throws
    ///     `EngineError.invalidThreadCount`.
    public init(model: Model, strategy: MemoryPlanner.Strategy = .greedy, kernels: KernelChoice = .automatic,
                threads: Int = 1) throws {
        guard (1...Self.maximumThreads).contains(threads) else { throw EngineError.invalidThreadCount(threads) }
        self.model = model
        self.strategy = strategy
        self.kernelChoice = kernels
        self.threads = threads
        graph = EncoderGraph(config: model.config, int8Layers: model.quantization?.int8Layers ?? [], threads: threads)
        for w in graph.weights {
            let info = try model.file.info(w.name)
            guard info.shape == w.shape else {
                throw EngineError.weightShape(file: model.url.path, tensor: w.name, expected: w.shape, found: info.shape)
            }
        }
    }

    /// Convenience: `init(model:)` then `prepare()`.
    public static func prepared(model: Model, strategy: MemoryPlanner.Strategy = .greedy,
                                kernels: KernelChoice = .automatic, threads: Int = 1) throws -> Interpreter {
        let interpreter = try Interpreter(model: model, strategy: strategy, kernels: kernels, threads: threads)
        try interpreter.prepare()
        return interpreter
    }

    deinit { vq_pool_destroy(pool) }

    public var isPrepared: Bool { arena != nil }

    /// Plans the arena, allocates it (once), packs the weights and, for more than one thread,
    /// starts the worker threads. Idempotent.
    public func prepare() throws {
        guard arena == nil else { return }
        // The tables are static constants: the pointer stays valid for the process's lifetime.
        guard let tablePointer = vq_kernels_table(kernelChoice.isa) else {
            throw EngineError.kernelsUnavailable(kernelChoice.rawValue)
        }
        let table = tablePointer.pointee
        var planner = MemoryPlanner(alignment: 64)
        var first = [Int](repeating: Int.max, count: graph.tensors.count)
        var last = [Int](repeating: -1, count: graph.tensors.count)
        first[graph.input] = 0  // written by the caller before step 0
        for (step, op) in graph.ops.enumerated() {
            for t in op.tensorsUsed {
                first[t] = min(first[t], step)
                last[t] = max(last[t], step)
            }
        }
        // Outputs stay readable after invoke returns.
        let end = graph.ops.count
        for t in [graph.embedding, graph.regression, graph.logits, graph.probabilities] { last[t] = end }
        for (i, t) in graph.tensors.enumerated() {
            planner.addBuffer(name: t.name, bytes: t.byteCount, firstUse: first[i], lastUse: last[i])
        }
        let plan = planner.plan(strategy)
        if let (a, b) = plan.firstConflict() {
            throw EngineError.planConflict(a, b)
        }

        // Persistent region: weights in graph order, converted or packed once.
        var persistent = PersistentAllocator(alignment: 64)
        let weightOffsets = graph.weights.map { persistent.reserve(bytes: Self.persistentBytes($0.layout)) }
        let arena = Arena(activationBytes: plan.arenaBytes, persistentBytes: persistent.used)
        var weightPointers: [UnsafeMutableRawPointer] = []
        for (w, offset) in zip(graph.weights, weightOffsets) {
            let at = plan.arenaBytes + offset
            try load(w, into: arena, at: at)
            weightPointers.append(arena.address(at: at))
        }
        // Last, after everything that can fail: the workers (nothing to undo if this throws).
        var pool: OpaquePointer?
        if threads > 1 {
            guard let created = vq_pool_create(Int32(threads)) else {
                throw EngineError.threadPoolUnavailable(threads: threads, reason: String(cString: strerror(errno)))
            }
            pool = created
        }
        self.pool = pool
        let tensorPointers = graph.tensors.indices.map { arena.address(at: plan.offsets[$0]) }
        resolved = graph.ops.map {
            ResolvedOp($0, graph: graph, tensors: tensorPointers, weights: weightPointers, table: tablePointer, pool: pool)
        }
        stageViews = graph.ops.indices.map { _ in nil }
        for stage in graph.stages {
            let t = graph.tensors[stage.tensor]
            stageViews[stage.step] = (stage.name, UnsafeBufferPointer(start: tensorPointers[stage.tensor].assumingMemoryBound(to: Float.self), count: t.count))
        }
        func view(_ t: Int) -> UnsafeMutableBufferPointer<Float> {
            UnsafeMutableBufferPointer(start: tensorPointers[t].assumingMemoryBound(to: Float.self), count: graph.tensors[t].count)
        }
        views = Views(input: view(graph.input), embedding: view(graph.embedding), regression: view(graph.regression),
                      logits: view(graph.logits), probabilities: view(graph.probabilities))
        self.plan = plan
        self.arena = arena
        self.kernels = table
    }

    /// Runs `body(thread)` once on each of the interpreter's threads at the same time (0: the
    /// calling thread, 1..<threads: the workers) and returns when all have returned; one thread,
    /// or before `prepare`: `body(0)` on the caller. For per-thread setup and instrumentation
    /// (e.g. counting allocations on the workers), not per window: it waits for sleeping workers.
    /// `body` runs concurrently on several threads, so it may touch only per-thread state or
    /// slots of its own thread index.
    public func runOnEachThread(_ body: (Int) -> Void) {
        guard let pool else { return body(0) }
        withoutActuallyEscaping(body) { body in
            var call = body
            withUnsafeMutablePointer(to: &call) { context in
                vq_pool_broadcast(pool, { context, thread, _ in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(thread))
                }, context)
            }
        }
    }

    /// The ISA of the kernels bound at prepare ("avx512", "avx2", "neon", "reference"), nil before.
    public var kernelName: String? { kernels.map { String(cString: $0.name) } }

    /// Bytes a weight takes in the persistent region.
    static func persistentBytes(_ layout: EncoderGraph.Weight.Layout) -> Int {
        switch layout {
        case .packedLinear(let n, let k): return vq_sgemm_packed_size(Int32(n), Int32(k)) * MemoryLayout<Float>.size
        case .plain(let count): return count * MemoryLayout<Float>.size
        case .packedInt8Linear(let n, let k): return vq_qgemm_packed_size(Int32(n), Int32(k))
        case .int32(let count): return count * MemoryLayout<Int32>.size
        case .int8(let count): return count
        case .reciprocal: return MemoryLayout<Float>.size
        }
    }

    /// Reads one weight from the model file into the arena, packing or converting it, and checks
    /// the values an int8 model must get right (scales positive and finite, shifts in range).
    private func load(_ w: EncoderGraph.Weight, into arena: Arena, at offset: Int) throws {
        let file = model.file
        func invalid(_ problem: String) -> EngineError {
            .invalidWeight(file: model.url.path, tensor: w.name, problem: problem)
        }
        switch w.layout {
        case .packedLinear(let n, let k):
            let values = try file.floats(w.name, expectedShape: w.shape)
            let dst = arena.floats(at: offset, count: vq_sgemm_packed_size(Int32(n), Int32(k)))
            values.withUnsafeBufferPointer { vq_sgemm_pack($0.baseAddress, Int32(n), Int32(k), dst.baseAddress) }
        case .plain(let count):
            let values = try file.floats(w.name, expectedShape: w.shape)
            if w.name.hasSuffix(".output_scale") || w.name.hasSuffix(".weight_scale"),
               let i = values.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw invalid("scale [\(i)] is \(values[i]); scales must be positive and finite")
            }
            _ = arena.floats(at: offset, count: count).initialize(from: values)
        case .packedInt8Linear(let n, let k):
            let values = try file.int8s(w.name)
            guard values.count == n * k else { throw invalid("holds \(values.count) values, expected \(n * k)") }
            if let i = values.firstIndex(of: -128) { throw invalid("value [\(i)] is -128; int8 weights lie in [-127, 127]") }
            let dst = arena.elements(Int8.self, at: offset, count: vq_qgemm_packed_size(Int32(n), Int32(k)))
            values.withUnsafeBufferPointer { vq_qgemm_pack($0.baseAddress, Int32(n), Int32(k), dst.baseAddress) }
        case .int32(let count):
            let values = try file.int32s(w.name)
            guard values.count == count else { throw invalid("holds \(values.count) values, expected \(count)") }
            if w.name.hasSuffix(".requant_multiplier"), let i = values.firstIndex(where: { $0 < 0 }) {
                throw invalid("multiplier [\(i)] is \(values[i]); multipliers are non-negative Q31 values")
            }
            if w.name.hasSuffix(".requant_shift"), let i = values.firstIndex(where: { $0 < -31 || $0 > 30 }) {
                throw invalid("shift [\(i)] is \(values[i]); shifts lie in [-31, 30]")
            }
            _ = arena.elements(Int32.self, at: offset, count: count).initialize(from: values)
        case .int8(let count):
            let values = try file.int8s(w.name)
            guard values.count == count else { throw invalid("holds \(values.count) values, expected \(count)") }
            _ = arena.elements(Int8.self, at: offset, count: count).initialize(from: values)
        case .reciprocal:
            let values = try file.floats(w.name, expectedShape: w.shape)
            guard let s = values.first, s.isFinite, s > 0, (1 / s).isFinite else {
                throw invalid("activation scale is \(values.first.map { "\($0)" } ?? "missing"); it must be positive and finite")
            }
            arena.floats(at: offset, count: 1)[0] = 1 / s
        }
    }

    /// Bytes of the planned activation region, its lower bound, the weights region, and what a
    /// plan without sharing would need. Nil before `prepare`.
    public var memory: MemoryReport? {
        guard let plan, let arena else { return nil }
        var linear = MemoryPlanner(alignment: plan.alignment)
        for b in plan.buffers { linear.addBuffer(name: b.name, bytes: b.bytes, firstUse: b.firstUse, lastUse: b.lastUse) }
        return MemoryReport(activationBytes: plan.arenaBytes, lowerBoundBytes: plan.lowerBoundBytes,
                            unsharedBytes: linear.plan(.linear).arenaBytes, weightBytes: arena.persistentBytes)
    }

    /// The model's input for one window, in the arena: leads x samples, row-major (lead-major),
    /// preprocessed. Write into it, then call `invoke()`.
    public func withInput<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        guard isPrepared else { throw EngineError.notPrepared }
        return try body(views.input)
    }

    /// Copies a preprocessed window (leads x samples, lead-major) into the arena and runs it.
    public func invoke(_ window: UnsafeBufferPointer<Float>) throws {
        guard isPrepared else { throw EngineError.notPrepared }
        guard window.count == views.input.count else {
            throw EngineError.inputSize(expected: views.input.count, found: window.count)
        }
        _ = views.input.update(fromContentsOf: window)
        try invoke()
    }

    /// Runs the window already written with `withInput`. No heap allocation.
    /// - Parameter stageObserver: called after each named stage (patch_embed, blocks.N, embedding)
    ///   with a view of its values; for parity tests and debugging.
    public func invoke(stageObserver: ((String, UnsafeBufferPointer<Float>) -> Void)? = nil) throws {
        guard let kernels else { throw EngineError.notPrepared }
        for step in resolved.indices {
            resolved[step].run(kernels)
            if let stageObserver, let stage = stageViews[step] { stageObserver(stage.name, stage.view) }
        }
    }

    /// Runs the window already written with `withInput`, calling `observer(step, before)` around
    /// every op (`before` true right before op `graph.ops[step]` runs, false right after), for
    /// calibration and debugging; inside the observer, `withTensor` reads any live tensor.
    public func invoke(observer: (_ step: Int, _ before: Bool) throws -> Void) throws {
        guard let kernels else { throw EngineError.notPrepared }
        for step in resolved.indices {
            try observer(step, true)
            resolved[step].run(kernels)
            try observer(step, false)
        }
    }

    /// A view of float32 tensor `index` of `graph.tensors` (only meaningful while the tensor is
    /// alive: inside an observer, at the steps where it is used).
    public func withTensor<R>(_ index: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let arena, let plan else { throw EngineError.notPrepared }
        let t = graph.tensors[index]
        precondition(t.elementType == .float32, "tensor \(t.name) is not float32")
        return try body(UnsafeBufferPointer(arena.floats(at: plan.offsets[index], count: t.count)))
    }

    /// A view of int8 tensor `index` (quantized activations of an int8 model), as `withTensor`.
    public func withInt8Tensor<R>(_ index: Int, _ body: (UnsafeBufferPointer<Int8>) throws -> R) throws -> R {
        guard let arena, let plan else { throw EngineError.notPrepared }
        let t = graph.tensors[index]
        precondition(t.elementType == .int8, "tensor \(t.name) is not int8")
        return try body(UnsafeBufferPointer(arena.elements(Int8.self, at: plan.offsets[index], count: t.count)))
    }

    /// The last window's outputs, valid inside `body` until the next `invoke`.
    public func withOutputs<R>(_ body: (InterpreterOutputs) throws -> R) throws -> R {
        guard isPrepared else { throw EngineError.notPrepared }
        return try body(InterpreterOutputs(
            embedding: UnsafeBufferPointer(views.embedding), regression: UnsafeBufferPointer(views.regression),
            logits: UnsafeBufferPointer(views.logits), probabilities: UnsafeBufferPointer(views.probabilities)))
    }

    private struct Views {
        var input = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        var embedding = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        var regression = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        var logits = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        var probabilities = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    }
}

/// Views of one window's outputs in the arena (valid only inside `withOutputs`).
public struct InterpreterOutputs {
    /// The ECG embedding (`fc_norm` of the mean token), `embed_dim` values.
    public let embedding: UnsafeBufferPointer<Float>
    /// Regression head outputs in the targets' units, in `config.targets` order.
    public let regression: UnsafeBufferPointer<Float>
    /// Classification logits, in `config.diseases` order.
    public let logits: UnsafeBufferPointer<Float>
    /// sigmoid(logits).
    public let probabilities: UnsafeBufferPointer<Float>
}

/// The engine's memory, in bytes.
public struct MemoryReport: Sendable, Equatable {
    /// Planned activation region (intermediates sharing bytes where lifetimes allow).
    public var activationBytes: Int
    /// Largest total size of intermediates alive at the same step: no plan can use less.
    public var lowerBoundBytes: Int
    /// What the activations would take with no sharing at all.
    public var unsharedBytes: Int
    /// Packed weights, norms, biases and the positional embedding.
    public var weightBytes: Int
    /// The whole arena (activations + weights), allocated once at prepare.
    public var arenaBytes: Int { activationBytes + weightBytes }
}

public enum EngineError: Error, Equatable, CustomStringConvertible {
    case notPrepared
    case inputSize(expected: Int, found: Int)
    case weightShape(file: String, tensor: String, expected: [Int], found: [Int])
    case planConflict(String, String)
    case kernelsUnavailable(String)
    case invalidWeight(file: String, tensor: String, problem: String)
    case invalidThreadCount(Int)
    case threadPoolUnavailable(threads: Int, reason: String)

    public var description: String {
        switch self {
        case .notPrepared: return "interpreter used before prepare()"
        case .inputSize(let e, let f): return "window has \(f) values; the model takes \(e) (leads x samples)"
        case .weightShape(let file, let t, let e, let f):
            return "\(file): tensor '\(t)' has shape \(f); the config's architecture needs \(e)"
        case .planConflict(let a, let b): return "memory plan places live buffers '\(a)' and '\(b)' on the same bytes"
        case .kernelsUnavailable(let isa): return "kernels '\(isa)' are not available in this build or on this CPU"
        case .invalidWeight(let file, let t, let problem): return "\(file): tensor '\(t)': \(problem)"
        case .invalidThreadCount(let n): return "thread count \(n) is out of range: use 1...\(Interpreter.maximumThreads)"
        case .threadPoolUnavailable(let n, let reason): return "cannot start \(n - 1) worker threads for \(n) threads: \(reason)"
        }
    }
}
