import Foundation
import Testing
import Ventriq
import VentriqTestSupport
@testable import VentriqQuant

/// The int8 engine against the numpy reference of docs/QUANTIZATION.md
/// (`ventriq_training.int8_reference`): every int8 Linear and lookup table, fed the engine's own
/// quantized input on the golden windows, must give the same integers (and, for float outputs,
/// the same float32 bits); every int8 attention core, fed the engine's own qkv, must agree up to
/// the exp of its softmax (SIMD polynomial vs numpy), which can move a probability by one step.
@Suite("Int8 engine parity with the numpy reference", .serialized)
struct Int8ParityTests {
    @Test("every int8 layer bit-exact on the golden windows, with every kernel set this CPU runs",
          arguments: KernelChoice.allCases.filter(\.isAvailable))
    func layersBitExact(kernels: KernelChoice) throws {
        let float = try Model(contentsOf: TestEnvironment.defaultModel)
        let sets = try QuantTestSets.get()
        let calibration = try CalibrationSet.load(sets.calibration, model: float)
        let stats = try ActivationCalibrator.collect(Interpreter.prepared(model: float), windows: calibration.windows)
        let writer = try Int8ModelBuilder(source: float, statistics: stats, method: .percentile(99.99))
            .build(int8: Set(Int8ModelBuilder.layers(float.config)), calibration: calibration)
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let modelURL = dir.appendingPathComponent("int8.safetensors")
        try writer.write(to: modelURL)
        let model = try Model(contentsOf: modelURL)
        let interpreter = try Interpreter.prepared(model: model, kernels: kernels)
        let graph = interpreter.graph

        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        let input = try golden.floats("input.preprocessed")
        var dump = SafeTensorsWriter()
        var expected: [String: (float: [Float]?, int8: [Int8]?)] = [:]
        var attention: [String: (qkv: [Float], output: [Float])] = [:]
        let windows = 2
        for w in 0..<windows {
            try input[(w * 30000)..<((w + 1) * 30000)].withUnsafeBufferPointer { try interpreter.invoke($0) }
            var inputs: [String: [Int8]] = [:]
            try interpreter.invoke { step, before in
                switch graph.ops[step] {
                case .int8Linear(let i, let wt, _, _, let o), .int8LinearRequantized(let i, let wt, _, _, _, let o):
                    let layer = "w\(w).\(graph.weights[wt].name.dropLast(".weight".count))"
                    if before { inputs[layer] = try interpreter.withInt8Tensor(i) { Array($0) } }
                    else if graph.tensors[o].elementType == .float32 {
                        expected[layer] = (try interpreter.withTensor(o) { Array($0) }, nil)
                    } else {
                        expected[layer] = (nil, try interpreter.withInt8Tensor(o) { Array($0) })
                    }
                case .int8Attention(let q, let heads, _, let o):
                    let core = "w\(w).\(graph.tensors[o].name.dropLast(".out".count)).core"
                    if before {
                        let qkv = try interpreter.withTensor(q) { Array($0) }
                        attention[core] = (qkv, [])
                        try dump.add("\(core).qkv", shape: [graph.tensors[q].rows, graph.tensors[q].cols], floats: qkv)
                        try dump.add("\(core).heads", shape: [1], int32s: [Int32(heads)])
                    } else {
                        attention[core]?.output = try interpreter.withTensor(o) { Array($0) }
                    }
                case .lookup(let i, let table, let o):
                    let lut = "w\(w).\(graph.weights[table].name.dropLast(".lut".count))"
                    if before { inputs[lut] = try interpreter.withInt8Tensor(i) { Array($0) } }
                    else { expected[lut] = (nil, try interpreter.withInt8Tensor(o) { Array($0) }) }
                default: break
                }
            }
            for (name, q) in inputs {
                let base = String(name.drop(while: { $0 != "." }).dropFirst())
                let isLUT = base.hasSuffix(".mlp.act")
                let rows = 300
                try dump.add("\(name).input_q", shape: [rows, q.count / rows], int8s: q)
                if isLUT {
                    try dump.add("\(name).lut", shape: [256], int8s: model.file.int8s("\(base).lut"))
                    continue
                }
                for suffix in ["weight", "bias", "output_scale", "requant_multiplier", "requant_shift"] {
                    let t = "\(base).\(suffix)"
                    guard model.file.contains(t) else { continue }
                    let info = try model.file.info(t)
                    switch info.dtype {
                    case .i8: try dump.add("\(name).\(suffix)", shape: info.shape, int8s: model.file.int8s(t))
                    case .i32: try dump.add("\(name).\(suffix)", shape: info.shape, int32s: model.file.int32s(t))
                    default: try dump.add("\(name).\(suffix)", shape: info.shape, floats: model.file.floats(t))
                    }
                }
            }
        }
        let inURL = dir.appendingPathComponent("layers-in.safetensors"), outURL = dir.appendingPathComponent("layers-out.safetensors")
        try dump.write(to: inURL)
        try TestEnvironment.runPython(
            "import sys; from ventriq_training.int8_reference import main; sys.exit(main(sys.argv[1:]))",
            arguments: ["layers", inURL.path, outURL.path])
        let reference = try SafeTensorsFile(contentsOf: outURL)
        #expect(expected.count == windows * (13 + 3))
        #expect(attention.count == windows * 3)
        var checked = 0
        for (core, value) in attention.sorted(by: { $0.key < $1.key }) {
            let r = try reference.floats("\(core).output")
            let rows = 300, width = value.qkv.count / rows  // [T, 3D]
            var vAbsMax: Float = 0
            for row in 0..<rows { for c in (2 * width / 3)..<width { vAbsMax = max(vAbsMax, abs(value.qkv[row * width + c])) } }
            let diffs = zip(value.output, r).map { Double(abs($0 - $1)) }
            let worst = diffs.max() ?? .infinity, mean = diffs.reduce(0, +) / Double(max(diffs.count, 1))
            #expect(r.count == value.output.count && worst <= 0.05 * Double(vAbsMax) && mean <= 1e-3 * Double(vAbsMax),
                    "\(core): difference largest \(worst), mean \(mean) (max|V| \(vAbsMax))")
            checked += 1
        }
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
            if let f = value.float {
                let r = try reference.floats("\(name).output")
                #expect(r.count == f.count)
                let mismatches = zip(f, r).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                #expect(mismatches == 0, "\(name): \(mismatches) float outputs differ from the reference")
            } else if let q = value.int8 {
                let r = try reference.int8s("\(name).output")
                let mismatches = zip(q, r).filter { $0.0 != $0.1 }.count
                #expect(r.count == q.count && mismatches == 0, "\(name): \(mismatches) int8 outputs differ from the reference")
            }
            checked += 1
        }
        print("int8 parity [\(interpreter.kernelName!)]: \(checked) layer outputs match the numpy reference (Linears and tables bit for bit)")
    }
}
