import CVentriqKernels
import VentriqModel

/// The op sequence of one window through the ECG encoder and its heads, with symbolic tensors.
///
/// Built once from a model's config and tensor shapes (`EncoderGraph(model:)`); the interpreter
/// turns it into a memory plan and then into ops over arena pointers. Every intermediate is its
/// own tensor with its own lifetime; the planner decides which ones share bytes.
///
/// One window, for the compact model (T = 300 tokens, D = 96, 3 heads of 32, MLP 384):
///
///     input [12 x 2500] = [T x P] patches (lead-major, each lead's patches contiguous)
///       -> linear (patch_embed.proj)            -> patches [T x D]      (stage patch_embed)
///       -> + pos_embed                          -> x0
///       -> block 0..depth-1: LN -> qkv -> attention (per head: softmax(Q K^T / sqrt(d)) V)
///          -> proj -> + residual -> LN -> fc1 -> GELU -> fc2 -> + residual   (stage blocks.i)
///       -> mean over tokens -> fc_norm          -> embedding [D]       (stage embedding)
///       -> head.regression [targets], head.classification [diseases] -> sigmoid
public struct EncoderGraph: Sendable {
    /// An activation: `rows x cols` floats, row-major.
    public enum ElementType: Sendable, Equatable {
        case float32, int8

        public var byteSize: Int { self == .float32 ? 4 : 1 }
    }

    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var rows: Int
        public var cols: Int
        public var elementType: ElementType = .float32
        public var count: Int { rows * cols }
        public var byteCount: Int { count * elementType.byteSize }
    }

    /// A weight copied into the arena's persistent region at prepare time.
    public struct Weight: Sendable, Equatable {
        public enum Layout: Sendable, Equatable {
            /// A Linear weight [out, in], packed for the GEMM microkernel.
            case packedLinear(outFeatures: Int, inFeatures: Int)
            /// Plain floats (biases, norms, positional embedding), `count` of them.
            case plain(count: Int)
            /// An int8 Linear weight [out, in] (I8), packed for the int8 GEMM microkernel.
            case packedInt8Linear(outFeatures: Int, inFeatures: Int)
            /// Plain int32 values (I32): int8 biases, requantization multipliers and shifts.
            case int32(count: Int)
            /// Plain int8 values (I8): the GELU lookup table.
            case int8(count: Int)
            /// One F32 scale s stored as 1.0f / s (an activation's quantization step).
            case reciprocal
        }
        /// Tensor name in the model file.
        public var name: String
        public var layout: Layout
        /// Shape the model file must have for this tensor.
        public var shape: [Int]
    }

    /// One step. Indices refer to `tensors` and `weights`.
    public enum Op: Sendable, Equatable {
        /// y[rows, out] = x[rows, in] W^T + b
        case linear(input: Int, weight: Int, bias: Int?, output: Int)
        /// y = a + b (same shape)
        case add(Int, Int, output: Int)
        /// y = x + weight (a weight of x's shape, e.g. the positional embedding)
        case addWeight(input: Int, weight: Int, output: Int)
        case layerNorm(input: Int, gamma: Int, beta: Int, eps: Float, output: Int)
        /// Multi-head self-attention on a [T, 3D] qkv tensor; `scores` is scratch: [T, T] for one
        /// thread, a [rows, T] block per thread for more (vq_parallel_attention_f32).
        case attention(qkv: Int, heads: Int, scores: Int, output: Int)
        /// The same attention in int8 (vq_attention_s8: dynamic per-token Q/K and per-head V
        /// scales, blocked over query rows); `workspace` is its scratch (bytes).
        case int8Attention(qkv: Int, heads: Int, workspace: Int, output: Int)
        /// In place.
        case gelu(Int)
        /// y[1, cols] = mean over rows of x
        case meanRows(input: Int, output: Int)
        /// y = 1 / (1 + exp(-x))
        case sigmoid(input: Int, output: Int)

        /// float32 -> int8: q = clamp(rint(x * (1 / s)), -127, 127)
        case quantize(input: Int, inverseScale: Int, output: Int)
        /// int8 x int8 -> int32 (+ int32 bias) -> float32: y = float(acc) * outputScale[n]
        case int8Linear(input: Int, weight: Int, bias: Int, outputScale: Int, output: Int)
        /// int8 x int8 -> int32 (+ bias) -> int8 by fixed-point requantization (multiplier, shift per channel)
        case int8LinearRequantized(input: Int, weight: Int, bias: Int, multiplier: Int, shift: Int, output: Int)
        /// int8 -> int8 by a 256-entry table (GELU between two int8 Linears)
        case lookup(input: Int, table: Int, output: Int)

        /// Tensors this op reads and writes (for lifetimes).
        var tensorsUsed: [Int] {
            switch self {
            case .linear(let i, _, _, let o), .addWeight(let i, _, let o), .layerNorm(let i, _, _, _, let o),
                 .meanRows(let i, let o), .sigmoid(let i, let o), .quantize(let i, _, let o),
                 .int8Linear(let i, _, _, _, let o), .int8LinearRequantized(let i, _, _, _, _, let o),
                 .lookup(let i, _, let o):
                return [i, o]
            case .add(let a, let b, let o): return [a, b, o]
            case .attention(let q, _, let s, let o), .int8Attention(let q, _, let s, let o): return [q, s, o]
            case .gelu(let x): return [x]
            }
        }
    }

    public private(set) var tensors: [Tensor] = []
    public private(set) var weights: [Weight] = []
    public private(set) var ops: [Op] = []
    /// After op `ops[step]` runs, tensor `tensor` holds the named stage (golden-vector names).
    public private(set) var stages: [(name: String, step: Int, tensor: Int)] = []

    public let input: Int
    public private(set) var embedding = 0
    public private(set) var regression = 0
    public private(set) var logits = 0
    public private(set) var probabilities = 0
    public let config: ModelConfig.Architecture
    public let targetCount: Int
    public let diseaseCount: Int

    /// Layers that run in int8: Linears by tensor prefix (e.g. "blocks.0.attn.qkv") and attention
    /// cores ("blocks.0.attn.core": Q.K^T, softmax and P.V).
    public let int8Layers: Set<String>

    /// Threads the graph is planned for: attention's scratch holds one slice per thread (1: the
    /// single-threaded layout, a [T, T] score matrix or vq_attention_s8's workspace).
    public let threads: Int

    /// - Parameter int8Layers: the layers an int8 model quantizes (empty for a float model).
    ///   Inputs of int8 Linears are quantized right before them; `fc1` and `fc2` of a block both
    ///   in int8 pass int8 through the GELU lookup table, otherwise GELU runs in float. An int8
    ///   attention core quantizes Q, K and V itself (dynamic scales, nothing calibrated).
    /// - Parameter threads: the interpreter's thread count (>= 1), which sizes attention's
    ///   per-thread scratch (vq_parallel_attention_f32_scratch, vq_parallel_attention_s8_workspace_size).
    public init(config model: ModelConfig, int8Layers: Set<String> = [], threads: Int = 1) {
        precondition(threads >= 1, "threads must be at least 1")
        self.int8Layers = int8Layers
        self.threads = threads
        let a = model.architecture
        config = a
        targetCount = model.targets.count
        diseaseCount = model.diseases.count
        let (t, d, p, h) = (a.nTokens, a.embedDim, a.patchSize, a.mlpHidden)
        let eps = Float(a.normEps)
        input = 0
        tensors.append(Tensor(name: "input", rows: t, cols: p))

        var x = addLinear("patch_embed.proj", input: input, rows: t, inFeatures: p, outFeatures: d,
                          weightShape: int8Layers.contains("patch_embed.proj") ? [d, p] : [d, 1, 1, p], output: "patch_embed")
        markStage("patch_embed", x)
        let pos = addWeight("pos_embed", .plain(count: t * d), shape: [1, t, d])
        x = append(.addWeight(input: x, weight: pos, output: newTensor("tokens", t, d)))

        for b in 0..<a.depth {
            let n = "blocks.\(b)"
            let ln1 = addLayerNorm("\(n).norm1", input: x, rows: t, cols: d, eps: eps)
            let qkv = addLinear("\(n).attn.qkv", input: ln1, rows: t, inFeatures: d, outFeatures: 3 * d, bias: a.qkvBias)
            let attn: Int
            if int8Layers.contains("\(n).attn.core") {
                let hd = Int32(d / a.numHeads)
                let bytes = threads == 1 ? vq_attention_s8_workspace_size(Int32(t), hd)
                    : vq_parallel_attention_s8_workspace_size(Int32(t), hd, Int32(a.numHeads), Int32(threads))
                let workspace = newTensor("\(n).attn.workspace", 1, bytes, .int8)
                attn = append(.int8Attention(qkv: qkv, heads: a.numHeads, workspace: workspace, output: newTensor("\(n).attn.out", t, d)))
            } else {
                // One thread: the whole [T, T] score matrix of a head. More: each thread its own
                // block of query rows' scores ([rows, T] per thread).
                let rows = threads == 1 ? t : vq_parallel_attention_f32_scratch(Int32(t), Int32(a.numHeads), Int32(threads)) / t
                let scores = newTensor("\(n).attn.scores", rows, t)
                attn = append(.attention(qkv: qkv, heads: a.numHeads, scores: scores, output: newTensor("\(n).attn.out", t, d)))
            }
            let proj = addLinear("\(n).attn.proj", input: attn, rows: t, inFeatures: d, outFeatures: d)
            let mid = append(.add(x, proj, output: newTensor("\(n).residual1", t, d)))
            let ln2 = addLayerNorm("\(n).norm2", input: mid, rows: t, cols: d, eps: eps)
            let fc2: Int
            if int8Layers.contains("\(n).mlp.fc1") && int8Layers.contains("\(n).mlp.fc2") {
                let hq = addInt8LinearRequantized("\(n).mlp.fc1", input: ln2, rows: t, inFeatures: d, outFeatures: h)
                let table = addWeight("\(n).mlp.act.lut", .int8(count: 256), shape: [256])
                let gq = append(.lookup(input: hq, table: table, output: newTensor("\(n).mlp.act", t, h, .int8)))
                fc2 = addInt8Linear("\(n).mlp.fc2", quantizedInput: gq, rows: t, inFeatures: h, outFeatures: d)
            } else {
                let fc1 = addLinear("\(n).mlp.fc1", input: ln2, rows: t, inFeatures: d, outFeatures: h)
                ops.append(.gelu(fc1))
                fc2 = addLinear("\(n).mlp.fc2", input: fc1, rows: t, inFeatures: h, outFeatures: d)
            }
            x = append(.add(mid, fc2, output: newTensor("\(n).out", t, d)))
            markStage(n, x)
        }
        let pooled = append(.meanRows(input: x, output: newTensor("pooled", 1, d)))
        embedding = addLayerNorm("fc_norm", input: pooled, rows: 1, cols: d, eps: eps)
        markStage("embedding", embedding)
        regression = addLinear("head.regression", input: embedding, rows: 1, inFeatures: d, outFeatures: targetCount)
        logits = addLinear("head.classification", input: embedding, rows: 1, inFeatures: d, outFeatures: diseaseCount)
        probabilities = append(.sigmoid(input: logits, output: newTensor("probabilities", 1, diseaseCount)))
    }

    /// Multiply-accumulates of one window (GEMMs only), for throughput figures.
    public var macsPerWindow: Int {
        ops.reduce(0) { total, op in
            switch op {
            case .linear(let i, let w, _, _), .int8Linear(let i, let w, _, _, _),
                 .int8LinearRequantized(let i, let w, _, _, _, _):
                switch weights[w].layout {
                case .packedLinear(let out, let inp), .packedInt8Linear(let out, let inp):
                    return total + tensors[i].rows * out * inp
                default: return total
                }
            case .attention(let q, _, _, _), .int8Attention(let q, _, _, _):
                let (t, d) = (tensors[q].rows, tensors[q].cols / 3)
                return total + 2 * t * t * d
            default: return total
            }
        }
    }

    // MARK: building

    private mutating func newTensor(_ name: String, _ rows: Int, _ cols: Int, _ type: ElementType = .float32) -> Int {
        tensors.append(Tensor(name: name, rows: rows, cols: cols, elementType: type))
        return tensors.count - 1
    }

    private mutating func addWeight(_ name: String, _ layout: Weight.Layout, shape: [Int]) -> Int {
        weights.append(Weight(name: name, layout: layout, shape: shape))
        return weights.count - 1
    }

    /// Appends an op and returns the tensor it writes.
    private mutating func append(_ op: Op) -> Int {
        ops.append(op)
        return op.tensorsUsed.last!
    }

    private mutating func markStage(_ name: String, _ tensor: Int) {
        stages.append((name: name, step: ops.count - 1, tensor: tensor))
    }

    private mutating func addLinear(_ prefix: String, input: Int, rows: Int, inFeatures: Int, outFeatures: Int,
                                    weightShape: [Int]? = nil, output: String? = nil, bias: Bool = true) -> Int {
        if int8Layers.contains(prefix) {
            let q = addQuantize(prefix, input: input, rows: rows, cols: inFeatures)
            return addInt8Linear(prefix, quantizedInput: q, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, output: output)
        }
        let w = addWeight("\(prefix).weight", .packedLinear(outFeatures: outFeatures, inFeatures: inFeatures),
                          shape: weightShape ?? [outFeatures, inFeatures])
        let b = bias ? addWeight("\(prefix).bias", .plain(count: outFeatures), shape: [outFeatures]) : nil
        return append(.linear(input: input, weight: w, bias: b, output: newTensor(output ?? prefix, rows, outFeatures)))
    }

    /// The input of an int8 Linear, quantized with the Linear's `input_scale`.
    private mutating func addQuantize(_ prefix: String, input: Int, rows: Int, cols: Int) -> Int {
        let inverse = addWeight("\(prefix).input_scale", .reciprocal, shape: [1])
        return append(.quantize(input: input, inverseScale: inverse, output: newTensor("\(prefix).input_q", rows, cols, .int8)))
    }

    private mutating func addInt8Weights(_ prefix: String, inFeatures: Int, outFeatures: Int) -> (weight: Int, bias: Int) {
        let w = addWeight("\(prefix).weight", .packedInt8Linear(outFeatures: outFeatures, inFeatures: inFeatures),
                          shape: [outFeatures, inFeatures])
        let b = addWeight("\(prefix).bias", .int32(count: outFeatures), shape: [outFeatures])
        return (w, b)
    }

    /// An int8 Linear with float output, on an already quantized input.
    private mutating func addInt8Linear(_ prefix: String, quantizedInput q: Int, rows: Int, inFeatures: Int,
                                        outFeatures: Int, output: String? = nil) -> Int {
        let (w, b) = addInt8Weights(prefix, inFeatures: inFeatures, outFeatures: outFeatures)
        let scale = addWeight("\(prefix).output_scale", .plain(count: outFeatures), shape: [outFeatures])
        return append(.int8Linear(input: q, weight: w, bias: b, outputScale: scale,
                                  output: newTensor(output ?? prefix, rows, outFeatures)))
    }

    /// An int8 Linear with int8 output (requantized), quantizing its float input first.
    private mutating func addInt8LinearRequantized(_ prefix: String, input: Int, rows: Int, inFeatures: Int, outFeatures: Int) -> Int {
        let q = addQuantize(prefix, input: input, rows: rows, cols: inFeatures)
        let (w, b) = addInt8Weights(prefix, inFeatures: inFeatures, outFeatures: outFeatures)
        let m = addWeight("\(prefix).requant_multiplier", .int32(count: outFeatures), shape: [outFeatures])
        let sh = addWeight("\(prefix).requant_shift", .int32(count: outFeatures), shape: [outFeatures])
        return append(.int8LinearRequantized(input: q, weight: w, bias: b, multiplier: m, shift: sh,
                                             output: newTensor(prefix, rows, outFeatures, .int8)))
    }

    private mutating func addLayerNorm(_ prefix: String, input: Int, rows: Int, cols: Int, eps: Float) -> Int {
        let g = addWeight("\(prefix).weight", .plain(count: cols), shape: [cols])
        let b = addWeight("\(prefix).bias", .plain(count: cols), shape: [cols])
        return append(.layerNorm(input: input, gamma: g, beta: b, eps: eps, output: newTensor(prefix, rows, cols)))
    }
}
