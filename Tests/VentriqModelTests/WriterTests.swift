import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

@Suite struct WriterTests {
    @Test func rejectsUnusableTensors() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w", shape: [2], floats: [1, 2])
        #expect(throws: ModelFileError.invalidWriterInput(tensor: "w", expected: "a name not used by another tensor", found: "a repeated name")) {
            try writer.add("w", shape: [1], floats: [3])
        }
        #expect(throws: ModelFileError.invalidWriterInput(tensor: "", expected: "a non-empty name", found: "an empty name")) {
            try writer.add("", shape: [1], floats: [3])
        }
        #expect(throws: ModelFileError.invalidWriterInput(tensor: "__metadata__", expected: "a tensor name", found: "the reserved key __metadata__")) {
            try writer.add("__metadata__", shape: [1], floats: [3])
        }
        #expect(throws: ModelFileError.invalidWriterInput(tensor: "x", expected: "24 bytes (F32 x shape [2, 3])", found: "20 bytes")) {
            try writer.add("x", shape: [2, 3], floats: [1, 2, 3, 4, 5])
        }
        #expect(throws: ModelFileError.invalidWriterInput(tensor: "n", expected: "non-negative dimensions with a representable size", found: "shape [-2]")) {
            try writer.add("n", dtype: .u8, shape: [-2], bytes: [])
        }
        #expect(writer.tensorCount == 1)
    }

    @Test func writeReplacesAnExistingFileAtomically() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-atomic")
        let url = directory.appendingPathComponent("model.safetensors")
        var first = SafeTensorsWriter(metadata: ["version": "1"])
        try first.add("w", shape: [2], floats: [1, 2])
        try first.write(to: url)
        let old = try SafeTensorsFile(contentsOf: url)

        var second = SafeTensorsWriter(metadata: ["version": "2"])
        try second.add("w", shape: [3], floats: [4, 5, 6])
        try second.write(to: url)

        // The rename swapped in a new inode: the open mapping still reads the old file whole.
        #expect(try old.floats("w") == [1, 2] && old.metadata["version"] == "1")
        let new = try SafeTensorsFile(contentsOf: url)
        #expect(try new.floats("w") == [4, 5, 6] && new.metadata["version"] == "2")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test func writeIntoMissingDirectoryFailsAndLeavesNothing() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-atomic")
        let url = directory.appendingPathComponent("absent/model.safetensors")
        var writer = SafeTensorsWriter()
        try writer.add("w", shape: [1], floats: [1])
        do {
            try writer.write(to: url)
            Issue.record("write into a missing directory succeeded")
        } catch let error as ModelFileError {
            guard case .writeFailed(let file, let reason) = error else {
                Issue.record("expected writeFailed, got \(error)")
                return
            }
            #expect(file == url.path)
            #expect(reason.contains("No such file or directory"))
            #expect(error.description.hasPrefix("\(url.path): cannot write the model file: create "))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func emptyWriterMakesTheMinimalFile() throws {
        #expect(try SafeTensorsWriter().serialized() == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
    }
}
