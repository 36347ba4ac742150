import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

/// The bundled default model and its golden vectors, read by Swift and by Python's safetensors.
@Suite struct DefaultModelTests {
    @Test func defaultModelMatchesPython() throws {
        let dumps = try TestEnvironment.makeTemporaryDirectory("ventriq-model-dump")
        let python = try pythonView(of: TestEnvironment.defaultModel, dumpTo: dumps)
        let file = try SafeTensorsFile(contentsOf: TestEnvironment.defaultModel)
        try expectMatchesPython(file, python, dumps: dumps)

        #expect(file.fileSize == 1_514_452)
        #expect(file.tensors.count == 2 + 1 + 3 * 12 + 2 + 4)
        #expect(file.metadata["format"] == "ventriq-float")
        #expect(file.metadata["format_version"] == "1")
        #expect(file.tensors.allSatisfy { $0.dtype == .f32 })
        // The config is JSON with the keys docs/FORMAT.md describes.
        let configText = try #require(file.metadata["config"])
        let config = try #require(try JSONSerialization.jsonObject(with: Data(configText.utf8)) as? [String: Any])
        for key in ["architecture", "preprocessing", "window", "targets", "diseases", "heads", "thresholds",
                    "conformal", "metrics", "training_data"] {
            #expect(config[key] != nil, "config lacks \(key)")
        }
    }

    @Test func encoderTensorNamesAndShapes() throws {
        let file = try SafeTensorsFile(contentsOf: TestEnvironment.defaultModel)
        let (d, p, t) = (96, 100, 300)
        #expect(try file.info("patch_embed.proj.weight").shape == [d, 1, 1, p])
        #expect(try file.info("patch_embed.proj.bias").shape == [d])
        #expect(try file.info("pos_embed").shape == [1, t, d])
        for block in 0 ..< 3 {
            let prefix = "blocks.\(block)."
            #expect(try file.info(prefix + "norm1.weight").shape == [d])
            #expect(try file.info(prefix + "attn.qkv.weight").shape == [3 * d, d])
            #expect(try file.info(prefix + "attn.qkv.bias").shape == [3 * d])
            #expect(try file.info(prefix + "attn.proj.weight").shape == [d, d])
            #expect(try file.info(prefix + "mlp.fc1.weight").shape == [4 * d, d])
            #expect(try file.info(prefix + "mlp.fc2.weight").shape == [d, 4 * d])
        }
        #expect(try file.info("fc_norm.weight").shape == [d])
        #expect(try file.info("head.regression.weight").shape == [3, d])
        #expect(try file.info("head.classification.bias").shape == [6])
        let pos = try file.floats("pos_embed", expectedShape: [1, t, d])
        #expect(pos.count == t * d)
    }

    @Test func goldenVectorsMatchPythonAndNameTheModelHash() throws {
        let dumps = try TestEnvironment.makeTemporaryDirectory("ventriq-golden-dump")
        let python = try pythonView(of: TestEnvironment.defaultGolden, dumpTo: dumps)
        let golden = try SafeTensorsFile(contentsOf: TestEnvironment.defaultGolden)
        try expectMatchesPython(golden, python, dumps: dumps)

        #expect(try golden.info("input.raw_mv").shape == [5, 12, 2500])
        #expect(try golden.info("input.preprocessed").shape == [5, 12, 2500])
        #expect(try golden.info("stage.embedding").shape == [5, 96])
        #expect(try golden.info("output.probabilities").shape == [5, 6])
        let probabilities = try golden.floats("output.probabilities", expectedShape: [5, 6])
        #expect(probabilities.allSatisfy { $0 >= 0 && $0 <= 1 })
        // The golden file records the SHA-256 of the model it was computed with.
        let model = try SafeTensorsFile(contentsOf: TestEnvironment.defaultModel)
        #expect(golden.metadata["model_sha256"] == model.sha256())
        #expect(golden.metadata["model"] == "ventriq-compact.safetensors")
    }
}
