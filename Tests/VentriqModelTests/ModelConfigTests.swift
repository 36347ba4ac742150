import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqModel

@Suite("ModelConfig")
struct ModelConfigTests {
    static func defaultConfigJSON() throws -> [String: Any] {
        let file = try SafeTensorsFile(contentsOf: TestEnvironment.defaultModel)
        return try JSONSerialization.jsonObject(with: Data(file.metadata["config"]!.utf8)) as! [String: Any]
    }

    static func decode(_ object: [String: Any]) throws -> ModelConfig {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try ModelConfig.decode(json: String(decoding: data, as: UTF8.self), file: "m.safetensors")
    }

    @Test("the default model's config decodes, with the values the trainer wrote")
    func defaultModel() throws {
        let model = try Model(contentsOf: TestEnvironment.defaultModel)
        let c = model.config
        #expect(c.name == "ventriq-compact")
        #expect(c.architecture.leads.count == 12 && c.architecture.nTokens == 300 && c.architecture.mlpHidden == 384)
        #expect(c.targets.map(\.name) == ["lvef_pct", "rvef_pct", "co_l_min"])
        #expect(c.diseases == ["cad", "af", "scd", "hf", "mi", "cardiomyopathy"])
        #expect(c.preprocessing.highpassPadlen == 15 && c.preprocessing.notchPadlen == 9)
        #expect(model.sha256.count == 64)
    }

    @Test("a missing field is named", arguments: ["thresholds", "architecture.embed_dim", "preprocessing.savgol_coeffs", "window.samples"])
    func missingField(path: String) throws {
        var object = try Self.defaultConfigJSON()
        let parts = path.split(separator: ".").map(String.init)
        if parts.count == 1 {
            object.removeValue(forKey: parts[0])
        } else {
            var inner = object[parts[0]] as! [String: Any]
            inner.removeValue(forKey: parts[1])
            object[parts[0]] = inner
        }
        #expect(throws: ModelConfigError(file: "m.safetensors", field: path, problem: "missing")) { try Self.decode(object) }
    }

    @Test("parts that disagree are refused, naming the field")
    func inconsistent() throws {
        var object = try Self.defaultConfigJSON()
        var window = object["window"] as! [String: Any]
        window["samples"] = 5000
        object["window"] = window
        #expect { try Self.decode(object) } throws: { ($0 as? ModelConfigError)?.field == "window" }

        object = try Self.defaultConfigJSON()
        var thresholds = object["thresholds"] as! [String: Any]
        thresholds.removeValue(forKey: "mi")
        object["thresholds"] = thresholds
        #expect { try Self.decode(object) } throws: { ($0 as? ModelConfigError)?.field == "thresholds.mi" }

        object = try Self.defaultConfigJSON()
        var arch = object["architecture"] as! [String: Any]
        arch["num_heads"] = 5
        object["architecture"] = arch
        #expect { try Self.decode(object) } throws: { ($0 as? ModelConfigError)?.field == "architecture" }
    }

    @Test("a wrong type is named with what was expected")
    func wrongType() throws {
        var object = try Self.defaultConfigJSON()
        var arch = object["architecture"] as! [String: Any]
        arch["depth"] = "three"
        object["architecture"] = arch
        #expect { try Self.decode(object) } throws: {
            let e = $0 as? ModelConfigError
            return e?.field == "architecture.depth" && e?.problem.contains("Int") == true
        }
    }

    @Test("a file that is not a Ventriq model is refused by its format metadata")
    func notAVentriqModel() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        try writer.add("w", shape: [2], floats: [1, 2])
        let url = dir.appendingPathComponent("other.safetensors")
        try writer.write(to: url)
        #expect { try Model(contentsOf: url) } throws: { "\($0)".contains("__metadata__.format") && "\($0)".contains("ventriq-float") }
    }
}
