import VentriqModel

/// Checks an interpreter against golden vectors computed by the trainer with PyTorch from the same
/// model file (`<model>.golden.safetensors`: `input.preprocessed` [W, leads, samples], then
/// `stage.patch_embed`, `stage.blocks.N`, `stage.embedding`, `output.regression`,
/// `output.logits`, `output.probabilities`, each with a leading window axis).
///
/// Error measure per stage: max |engine - torch| over all windows and values, divided by the
/// largest |torch| value of the stage (a relative error that stays meaningful for values near 0).
public enum GoldenVectors {
    public struct Comparison: Sendable, Equatable {
        public var stage: String
        public var maxAbsoluteError: Float
        public var maxRelativeError: Float
        public var values: Int
    }

    /// Runs every golden window through `interpreter` (allocates; not for the hot path).
    public static func compare(_ interpreter: Interpreter, golden: SafeTensorsFile) throws -> [Comparison] {
        let input = try golden.floats("input.preprocessed")
        let shape = try golden.info("input.preprocessed").shape
        let windows = shape.first ?? 0
        guard windows > 0, input.count % windows == 0 else { return [] }
        let per = input.count / windows
        let stageNames = interpreter.graph.stages.map(\.name)
        let outputNames = ["regression", "logits", "probabilities"]
        var references: [String: [Float]] = [:]
        for name in stageNames { references[name] = try golden.floats("stage.\(name)") }
        for name in outputNames { references[name] = try golden.floats("output.\(name)") }
        var maxDiff: [String: Float] = [:], scale: [String: Float] = [:]
        func accumulate(_ name: String, _ view: UnsafeBufferPointer<Float>, window: Int) {
            let ref = references[name]!
            let n = ref.count / windows
            precondition(n == view.count, "golden \(name) holds \(n) values per window; the engine \(view.count)")
            for (a, b) in zip(view, ref[(window * n)..<((window + 1) * n)]) {
                maxDiff[name] = max(maxDiff[name] ?? 0, abs(a - b))
                scale[name] = max(scale[name] ?? 0, abs(b))
            }
        }
        for w in 0..<windows {
            try input[(w * per)..<((w + 1) * per)].withUnsafeBufferPointer { window in
                try interpreter.withInput { _ = $0.update(fromContentsOf: window) }
            }
            try interpreter.invoke { name, view in accumulate(name, view, window: w) }
            try interpreter.withOutputs { out in
                accumulate("regression", out.regression, window: w)
                accumulate("logits", out.logits, window: w)
                accumulate("probabilities", out.probabilities, window: w)
            }
        }
        return (stageNames + outputNames).map { name in
            Comparison(stage: name, maxAbsoluteError: maxDiff[name] ?? 0,
                       maxRelativeError: (maxDiff[name] ?? 0) / max(scale[name] ?? 0, .leastNormalMagnitude),
                       values: references[name]!.count)
        }
    }
}
