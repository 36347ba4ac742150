import Foundation
import Testing
@testable import VentriqModel
import VentriqTestSupport

/// Files written by Python's safetensors, read by Swift; files written by Swift, read by Python.
@Suite struct PythonInteropTests {
    /// numpy.save_file with every dtype Ventriq reads except BF16 (numpy has none), special
    /// values, a scalar, an empty tensor and metadata that needs JSON escapes.
    @Test func readsNumpyWrittenDTypesAndMetadata() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-numpy")
        let url = directory.appendingPathComponent("numpy.safetensors")
        let script = #"""
        import sys
        import numpy as np
        from safetensors.numpy import save_file
        rng = np.random.default_rng(7)
        f16 = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-05, 5.96e-08, np.inf, -np.inf, np.nan, 0.1, 1e-7],
                       dtype=np.float16)
        f64 = np.array([[np.pi, -1e300, 1e-320, 0.1], [3.4028235e38, 3.4028236e38, -0.0, np.nan]], dtype=np.float64)
        save_file({
            'half': f16,
            'double': f64,
            'weights': rng.standard_normal((3, 4, 5)).astype(np.float32),
            'scalar': np.array(2.5, dtype=np.float32),
            'empty': np.zeros((2, 0, 3), dtype=np.float32),
            'q8': np.array([-128, -1, 0, 1, 127], dtype=np.int8),
            'u8': np.array([[0, 1], [128, 255]], dtype=np.uint8),
            'i16': np.array([-32768, 7, 32767], dtype=np.int16),
            'i32': np.array([-2**31, -5, 0, 2**31 - 1], dtype=np.int32),
            'i64': np.array([-2**63, 3, 2**63 - 1], dtype=np.int64),
            'mask': np.array([True, False, True]),
        }, sys.argv[1], metadata={'format': 'ventriq-float', 'note': 'quote " backslash \\ newline \n tab \t é ✓ \x01'})
        """#
        try TestEnvironment.runPython(script, arguments: [url.path])
        let dumps = try TestEnvironment.makeTemporaryDirectory("ventriq-numpy-dump")
        let python = try pythonView(of: url, dumpTo: dumps)
        let file = try SafeTensorsFile(contentsOf: url)
        try expectMatchesPython(file, python, dumps: dumps)

        #expect(file.metadata["note"] == "quote \" backslash \\ newline \n tab \t é ✓ \u{01}")
        #expect(try file.info("half").dtype == .f16)
        #expect(try file.info("double").dtype == .f64)
        #expect(try file.floats("scalar", expectedShape: []) == [2.5])
        #expect(try file.info("empty").elementCount == 0)
        #expect(try file.floats("empty") == [])
        #expect(try file.int8s("q8") == [-128, -1, 0, 1, 127])
        #expect(try file.uint8s("u8") == [0, 1, 128, 255])
        #expect(try file.int16s("i16") == [-32768, 7, 32767])
        #expect(try file.int32s("i32") == [Int32.min, -5, 0, Int32.max])
        #expect(try file.int64s("i64") == [Int64.min, 3, Int64.max])
        #expect(try file.bools("mask") == [true, false, true])
        let doubles = try file.doubles("double")
        #expect(doubles[0] == Double.pi && doubles[1] == -1e300 && doubles[2] == Double("1e-320")! && doubles[7].isNaN)
        let half = try file.floats("half")
        #expect(half[4] == 65504 && half[7] == .infinity && half[8] == -.infinity && half[9].isNaN)
        #expect(half[1].sign == .minus && half[1] == 0)
        // F64 beyond Float's range rounds to infinity, as numpy's cast does.
        #expect(try file.floats("double")[5] == .infinity)
    }

    /// Every one of the 65,536 F16 and BF16 bit patterns converts to the Float that numpy
    /// (float16) and torch (bfloat16) produce, bit for bit, NaN payloads included.
    @Test func halfPrecisionConversionIsExactForEveryBitPattern() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-halves")
        let url = directory.appendingPathComponent("halves.safetensors")
        let script = """
        import sys
        import numpy as np, torch
        from safetensors.torch import save_file
        bits = np.arange(65536, dtype=np.uint16).view(np.int16)
        save_file({'f16': torch.from_numpy(bits.copy()).view(torch.float16),
                   'bf16': torch.from_numpy(bits.copy()).view(torch.bfloat16).reshape(256, 256)},
                  sys.argv[1], metadata={'written_by': 'torch'})
        """
        try TestEnvironment.runPython(script, arguments: [url.path])
        let dumps = try TestEnvironment.makeTemporaryDirectory("ventriq-halves-dump")
        let python = try pythonView(of: url, dumpTo: dumps)
        let file = try SafeTensorsFile(contentsOf: url)
        try expectMatchesPython(file, python, dumps: dumps)
        #expect(try file.info("bf16").dtype == .bf16)
        #expect(try file.info("bf16").shape == [256, 256])

        // Independently of Python: for every non-NaN pattern the conversion agrees with Swift's
        // own Float16, and every NaN stays a NaN with its sign.
        for bits in UInt16.min ... UInt16.max {
            let converted = HalfPrecision.float(fromF16Bits: bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                #expect(converted.isNaN && converted.sign == reference.sign)
            } else if converted.bitPattern != reference.bitPattern {
                Issue.record("F16 0x\(String(bits, radix: 16)): \(converted) != \(reference)")
            }
        }
    }

    /// SafeTensorsWriter's file, read by Python's safetensors (which validates the layout) and
    /// by SafeTensorsFile: same tensors, bytes and metadata; header and data 8-byte aligned;
    /// every tensor aligned to its element size.
    @Test func writerRoundTripThroughPython() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-writer")
        let url = directory.appendingPathComponent("written.safetensors")
        let metadata = ["format": "ventriq-float", "format_version": "1", "note": "\"quoted\" \\ é\n\u{7}"]
        var writer = SafeTensorsWriter(metadata: metadata)
        let weights: [Float] = (0 ..< 24).map { Float($0) * 0.37 - 4 }
        try writer.add("layer.weight", shape: [2, 3, 4], floats: weights)
        try writer.add("layer.bias", shape: [3], floats: [1, -0.0, .infinity])
        try writer.add("scalar", shape: [], floats: [42])
        try writer.add("empty", shape: [0, 5], floats: [])
        try writer.add("q", shape: [5], int8s: [-128, -3, 0, 9, 127])
        try writer.add("idx", shape: [3], int32s: [7, -1, 1 << 30])
        try writer.add("big", shape: [2], int64s: [Int64.min, 5])
        try writer.add("dbl", shape: [1, 2], doubles: [0.1, -1e200])
        try writer.add("bytes", shape: [3], uint8s: [0, 200, 255])
        try writer.add("half", dtype: .f16, shape: [2], bytes: [0x00, 0x3C, 0x00, 0xC0])  // 1, -2
        try writer.add("brain", dtype: .bf16, shape: [3], bytes: [0x80, 0x3F, 0x49, 0x40, 0x80, 0xFF])  // 1, 3.140625, -inf
        try writer.add("flags", dtype: .bool, shape: [2], bytes: [1, 0])
        try writer.write(to: url)

        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["written.safetensors"])
        let dumps = try TestEnvironment.makeTemporaryDirectory("ventriq-writer-dump")
        let python = try pythonView(of: url, dumpTo: dumps)
        let file = try SafeTensorsFile(contentsOf: url)
        try expectMatchesPython(file, python, dumps: dumps)

        #expect(python.metadata == metadata)
        #expect(file.headerByteCount % 8 == 0)
        #expect(file.dataOffset % 8 == 0)
        for tensor in file.tensors {
            #expect(tensor.byteRange.lowerBound % tensor.dtype.byteSize == 0, "\(tensor.name) misaligned")
        }
        #expect(try file.floats("layer.weight", expectedShape: [2, 3, 4]) == weights)
        #expect(bitPatterns(try file.floats("layer.bias")) == bitPatterns([1, -0.0, .infinity]))
        #expect(try file.floats("half") == [1, -2])
        #expect(try file.floats("brain") == [1, 3.140625, -.infinity])
        #expect(try file.int8s("q") == [-128, -3, 0, 9, 127])
        #expect(try file.int32s("idx") == [7, -1, 1 << 30])
        #expect(try file.int64s("big") == [Int64.min, 5])
        #expect(try file.doubles("dbl") == [0.1, -1e200])
        #expect(try file.bools("flags") == [true, false])
        #expect(try file.info("empty").shape == [0, 5])
        // In-memory serialisation is the same bytes as the file.
        #expect(try writer.serialized() == Array(try Data(contentsOf: url)))
    }

    /// For the same tensors and a single metadata key, SafeTensorsWriter produces exactly the
    /// bytes of safetensors.numpy.save_file: same JSON, escaping, padding and tensor order.
    @Test func writerOutputIsByteIdenticalToNumpySaveFile() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-identical")
        let pythonFile = directory.appendingPathComponent("python.safetensors")
        let script = #"""
        import sys
        import numpy as np
        from safetensors.numpy import save_file
        save_file({
            'b.w': np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
            'a.w': np.array([1.5, -2.0], dtype=np.float32),
            'd': np.array([0.25], dtype=np.float64),
            'h': np.array([1.0, 0.5, -4.0], dtype=np.float16),
            'i': np.array([1, 2, 3], dtype=np.int32),
            'k': np.array([9], dtype=np.int64),
            's': np.array([-7, 7], dtype=np.int16),
            'q': np.array([-1, 2, -3], dtype=np.int8),
            'u': np.array([250], dtype=np.uint8),
            'm': np.array([True, False]),
            'z': np.zeros((0,), dtype=np.float32),
            'n': np.array(3.0, dtype=np.float32),
        }, sys.argv[1], metadata={'config': '{"a": [1, 2], "é": "\\n"}'})
        """#
        try TestEnvironment.runPython(script, arguments: [pythonFile.path])

        var writer = SafeTensorsWriter(metadata: ["config": #"{"a": [1, 2], "é": "\n"}"#])
        try writer.add("b.w", shape: [2, 3], floats: [0, 0.25, 0.5, 0.75, 1, 1.25])
        try writer.add("a.w", shape: [2], floats: [1.5, -2])
        try writer.add("d", shape: [1], doubles: [0.25])
        try writer.add("h", dtype: .f16, shape: [3], bytes: [0x00, 0x3C, 0x00, 0x38, 0x00, 0xC4])
        try writer.add("i", shape: [3], int32s: [1, 2, 3])
        try writer.add("k", shape: [1], int64s: [9])
        try writer.add("s", dtype: .i16, shape: [2], bytes: [0xF9, 0xFF, 0x07, 0x00])
        try writer.add("q", shape: [3], int8s: [-1, 2, -3])
        try writer.add("u", shape: [1], uint8s: [250])
        try writer.add("m", dtype: .bool, shape: [2], bytes: [1, 0])
        try writer.add("z", shape: [0], floats: [])
        try writer.add("n", shape: [], floats: [3])
        let swiftFile = directory.appendingPathComponent("swift.safetensors")
        try writer.write(to: swiftFile)

        let expected = Array(try Data(contentsOf: pythonFile))
        let actual = Array(try Data(contentsOf: swiftFile))
        #expect(actual == expected, "Swift: \(String(decoding: actual.prefix(400), as: UTF8.self))\nPython: \(String(decoding: expected.prefix(400), as: UTF8.self))")
    }

    @Test func sha256MatchesHashlib() throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("ventriq-sha")
        // A file larger than one 1 MiB hashing chunk and not a multiple of it.
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        try writer.add("big", shape: [300_001], floats: (0 ..< 300_001).map { Float($0).squareRoot() })
        let url = directory.appendingPathComponent("big.safetensors")
        try writer.write(to: url)
        let script = "import hashlib, sys\nfor p in sys.argv[1:]: print(hashlib.sha256(open(p, 'rb').read()).hexdigest())"
        let paths = [url, TestEnvironment.defaultModel, TestEnvironment.defaultGolden]
        let run = try TestEnvironment.runPython(script, arguments: paths.map(\.path))
        let expected = run.stdout.split(separator: "\n").map(String.init)
        let actual = try paths.map { try SafeTensorsFile(contentsOf: $0).sha256() }
        #expect(actual == expected)
        #expect(actual.allSatisfy { $0.count == 64 && $0 == $0.lowercased() })
    }
}
