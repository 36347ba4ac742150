import CVentriqKernels
import Foundation

/// An op of `EncoderGraph` bound to arena pointers at prepare time: running it is a kernel call
/// with no lookups, no reference counting and no allocation.
///
/// With a thread pool (an interpreter of more than one thread), every op but pooling and the
/// sigmoid goes through the C parallel drivers (vq_parallel_*), which split it along outputs only
/// and so give the same bits; without a pool, every op calls the table as before.
struct ResolvedOp {
    typealias In = UnsafePointer<Float>
    typealias Out = UnsafeMutablePointer<Float>
    typealias In8 = UnsafePointer<Int8>
    typealias Out8 = UnsafeMutablePointer<Int8>
    typealias In32 = UnsafePointer<Int32>

    enum Kind {
        case linear(x: In, rows: Int32, inFeatures: Int32, outFeatures: Int32, packed: In, bias: In?, y: Out)
        case add(a: In, b: In, y: Out, count: Int32)
        case layerNorm(x: In, rows: Int32, cols: Int32, gamma: In, beta: In, eps: Float, y: Out)
        case attention(qkv: In, tokens: Int32, width: Int32, heads: Int32, scores: Out, y: Out)
        case int8Attention(qkv: In, tokens: Int32, width: Int32, heads: Int32, workspace: UnsafeMutableRawPointer, y: Out)
        case gelu(x: Out, count: Int32)
        case meanRows(x: In, rows: Int32, cols: Int32, y: Out)
        case sigmoid(x: In, y: Out, count: Int)
        case quantize(x: In, rows: Int32, cols: Int32, inverseScale: In, y: Out8)
        case int8Linear(x: In8, rows: Int32, inFeatures: Int32, outFeatures: Int32, packed: In8, bias: In32, scale: In, y: Out)
        case int8LinearRequantized(x: In8, rows: Int32, inFeatures: Int32, outFeatures: Int32, packed: In8, bias: In32,
                                   multiplier: In32, shift: In32, y: Out8)
        case lookup(x: In8, count: Int32, table: In8, y: Out8)
    }

    let kind: Kind
    /// The interpreter's vq_pool (nil: one thread, the single-threaded calls).
    let pool: OpaquePointer?
    /// The bound table, for the drivers that take it by pointer (int8 attention, vq_parallel_*).
    let table: UnsafePointer<vq_kernel_table>

    /// - Parameters:
    ///   - table: the kernel table the interpreter binds (drivers such as the int8 attention call
    ///     its members themselves).
    ///   - pool: the interpreter's thread pool, or nil for one thread.
    init(_ op: EncoderGraph.Op, graph: EncoderGraph, tensors rawTensors: [UnsafeMutableRawPointer],
         weights rawWeights: [UnsafeMutableRawPointer], table: UnsafePointer<vq_kernel_table>, pool: OpaquePointer?) {
        self.pool = pool
        self.table = table
        func dims(_ t: Int) -> (Int32, Int32) { (Int32(graph.tensors[t].rows), Int32(graph.tensors[t].cols)) }
        // Typed views of the arena addresses (each tensor and weight is bound to one type).
        let tensors = rawTensors.map { $0.assumingMemoryBound(to: Float.self) }
        let weights = rawWeights.map { $0.assumingMemoryBound(to: Float.self) }
        func t8(_ i: Int) -> Out8 { rawTensors[i].assumingMemoryBound(to: Int8.self) }
        func w8(_ i: Int) -> In8 { In8(rawWeights[i].assumingMemoryBound(to: Int8.self)) }
        func w32(_ i: Int) -> In32 { In32(rawWeights[i].assumingMemoryBound(to: Int32.self)) }
        switch op {
        case .linear(let i, let w, let b, let o):
            let (rows, k) = dims(i)
            kind = .linear(x: In(tensors[i]), rows: rows, inFeatures: k, outFeatures: dims(o).1,
                           packed: In(weights[w]), bias: b.map { In(weights[$0]) }, y: tensors[o])
        case .add(let a, let b, let o):
            kind = .add(a: In(tensors[a]), b: In(tensors[b]), y: tensors[o], count: Int32(graph.tensors[o].count))
        case .addWeight(let i, let w, let o):
            kind = .add(a: In(tensors[i]), b: In(weights[w]), y: tensors[o], count: Int32(graph.tensors[o].count))
        case .layerNorm(let i, let g, let b, let eps, let o):
            let (rows, cols) = dims(i)
            kind = .layerNorm(x: In(tensors[i]), rows: rows, cols: cols, gamma: In(weights[g]), beta: In(weights[b]), eps: eps, y: tensors[o])
        case .attention(let q, let heads, let s, let o):
            let (tokens, width) = dims(o)
            kind = .attention(qkv: In(tensors[q]), tokens: tokens, width: width, heads: Int32(heads), scores: tensors[s], y: tensors[o])
        case .int8Attention(let q, let heads, let ws, let o):
            let (tokens, width) = dims(o)
            kind = .int8Attention(qkv: In(tensors[q]), tokens: tokens, width: width, heads: Int32(heads),
                                  workspace: rawTensors[ws], y: tensors[o])
        case .gelu(let x):
            kind = .gelu(x: tensors[x], count: Int32(graph.tensors[x].count))
        case .meanRows(let i, let o):
            let (rows, cols) = dims(i)
            kind = .meanRows(x: In(tensors[i]), rows: rows, cols: cols, y: tensors[o])
        case .sigmoid(let i, let o):
            kind = .sigmoid(x: In(tensors[i]), y: tensors[o], count: graph.tensors[o].count)
        case .quantize(let i, let s, let o):
            let (rows, cols) = dims(i)
            kind = .quantize(x: In(tensors[i]), rows: rows, cols: cols, inverseScale: In(weights[s]), y: t8(o))
        case .int8Linear(let i, let w, let b, let s, let o):
            let (rows, k) = dims(i)
            kind = .int8Linear(x: In8(t8(i)), rows: rows, inFeatures: k, outFeatures: dims(o).1, packed: w8(w), bias: w32(b),
                               scale: In(weights[s]), y: tensors[o])
        case .int8LinearRequantized(let i, let w, let b, let m, let sh, let o):
            let (rows, k) = dims(i)
            kind = .int8LinearRequantized(x: In8(t8(i)), rows: rows, inFeatures: k, outFeatures: dims(o).1, packed: w8(w),
                                          bias: w32(b), multiplier: w32(m), shift: w32(sh), y: t8(o))
        case .lookup(let i, let table, let o):
            kind = .lookup(x: In8(t8(i)), count: Int32(graph.tensors[o].count), table: w8(table), y: t8(o))
        }
    }

    /// Runs the op with `kernels`, the table the interpreter captured at prepare time.
    @inline(__always)
    func run(_ kernels: vq_kernel_table) {
        switch kind {
        case .linear(let x, let rows, let k, let n, let packed, let bias, let y):
            if let pool {
                vq_parallel_sgemm_packed(pool, table, rows, n, k, x, k, packed, bias, y, n)
            } else {
                kernels.sgemm_packed(rows, n, k, x, k, packed, bias, y, n)
            }
        case .add(let a, let b, let y, let count):
            if let pool {
                vq_parallel_add(pool, table, count, a, b, y)
            } else {
                kernels.add(count, a, b, y)
            }
        case .layerNorm(let x, let rows, let cols, let gamma, let beta, let eps, let y):
            if let pool {
                vq_parallel_layernorm(pool, table, rows, cols, x, cols, gamma, beta, eps, y, cols)
            } else {
                kernels.layernorm(rows, cols, x, cols, gamma, beta, eps, y, cols)
            }
        case .attention(let qkv, let t, let d, let heads, let scores, let y):
            if let pool {
                // The same three kernel calls per (head, block of query rows), scores per thread.
                vq_parallel_attention_f32(pool, table, t, d, heads, qkv, 3 * d, y, d, scores)
                return
            }
            // Per head h: scores = (Q_h K_h^T) / sqrt(head_dim); softmax over keys; y_h = scores V_h.
            // Q, K and V are column slices of the [T, 3D] qkv rows (timm's reshape order).
            let hd = d / heads
            let ld = 3 * d
            let scale = Float(1.0 / Double(hd).squareRoot())
            // An Int loop: iterating a Range<Int32> allocates in unoptimised builds.
            for h in 0..<Int(heads) {
                let offset = h * Int(hd)
                let q = qkv + offset
                let k = qkv + Int(d) + offset
                let v = qkv + 2 * Int(d) + offset
                kernels.sgemm_nt(t, t, hd, q, ld, k, ld, scale, scores, t)
                kernels.softmax_rows(t, t, scores, t)
                kernels.sgemm_nn(t, hd, t, In(scores), t, v, ld, y + offset, d)
            }
        case .int8Attention(let qkv, let t, let d, let heads, let workspace, let y):
            if let pool {
                vq_parallel_attention_s8(pool, table, t, d, heads, qkv, 3 * d, y, d, workspace)
            } else {
                vq_attention_s8(table, t, d, heads, qkv, 3 * d, y, d, workspace)
            }
        case .gelu(let x, let count):
            if let pool {
                vq_parallel_gelu_erf(pool, table, count, x)
            } else {
                kernels.gelu_erf(count, x)
            }
        case .meanRows(let x, let rows, let cols, let y):
            kernels.mean_rows(rows, cols, x, cols, y)
        case .sigmoid(let x, let y, let count):
            for i in 0..<count { y[i] = 1 / (1 + Foundation.exp(-x[i])) }
        case .quantize(let x, let rows, let cols, let inverseScale, let y):
            if let pool {
                vq_parallel_quantize_s8(pool, table, rows, cols, x, cols, inverseScale.pointee, y, cols)
            } else {
                kernels.quantize_s8(rows, cols, x, cols, inverseScale.pointee, y, cols)
            }
        case .int8Linear(let x, let rows, let k, let n, let packed, let bias, let scale, let y):
            if let pool {
                vq_parallel_qgemm_packed_f32(pool, table, rows, n, k, x, k, packed, bias, scale, y, n)
            } else {
                kernels.qgemm_packed_f32(rows, n, k, x, k, packed, bias, scale, y, n)
            }
        case .int8LinearRequantized(let x, let rows, let k, let n, let packed, let bias, let m, let shift, let y):
            if let pool {
                vq_parallel_qgemm_packed_s8(pool, table, rows, n, k, x, k, packed, bias, m, shift, y, n)
            } else {
                kernels.qgemm_packed_s8(rows, n, k, x, k, packed, bias, m, shift, y, n)
            }
        case .lookup(let x, let count, let lut, let y):
            if let pool {
                vq_parallel_lut_s8(pool, table, count, x, lut, y)
            } else {
                kernels.lut_s8(count, x, lut, y)
            }
        }
    }
}
