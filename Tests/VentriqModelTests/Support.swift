import Foundation
import Testing
import VentriqModel
import VentriqTestSupport

/// What Python's safetensors (and an independent header parse with `json`) says about a file.
struct PythonView: Decodable {
    struct Entry: Decodable {
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }
    var metadata: [String: String]
    var tensors: [String: Entry]
    var headerLength: Int
    var sha256: String

    enum CodingKeys: String, CodingKey {
        case metadata, tensors, headerLength = "header_length", sha256
    }
}

/// Runs Python on `file`: prints a `PythonView` and writes, per tensor, `<name>.raw` (its bytes as
/// stored) and, for floating-point tensors, `<name>.f32` (numpy's float16 -> float32, torch's
/// bfloat16 -> float32, numpy's float64 -> float32 rounding) into `dumpDirectory`.
func pythonView(of file: URL, dumpTo dumpDirectory: URL) throws -> PythonView {
    let script = """
    import hashlib, json, os, struct, sys
    import numpy as np, torch
    from safetensors import safe_open
    path, out = sys.argv[1], sys.argv[2]
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    entries = {}
    with safe_open(path, 'pt') as f:
        meta = f.metadata() or {}
        for k in f.keys():
            t = f.get_tensor(k).contiguous().reshape(-1)
            with open(os.path.join(out, k + '.raw'), 'wb') as g:
                g.write(t.view(torch.uint8).numpy().tobytes())
            if t.dtype == torch.float16:
                f32 = t.numpy().astype(np.float32)
            elif t.dtype == torch.float64:
                f32 = t.numpy().astype(np.float32)
            elif t.is_floating_point():
                f32 = t.float().numpy()
            else:
                f32 = None
            if f32 is not None:
                with open(os.path.join(out, k + '.f32'), 'wb') as g:
                    g.write(f32.astype('<f4').tobytes())
            b, e = header[k]['data_offsets']
            entries[k] = {'dtype': header[k]['dtype'], 'shape': list(f.get_slice(k).get_shape()),
                          'begin': 8 + n + b, 'end': 8 + n + e}
    print(json.dumps({'metadata': meta, 'tensors': entries, 'header_length': n,
                      'sha256': hashlib.sha256(raw).hexdigest()}))
    """
    let run = try TestEnvironment.runPython(script, arguments: [file.path, dumpDirectory.path])
    return try JSONDecoder().decode(PythonView.self, from: Data(run.stdout.utf8))
}

/// The bytes of a file Python dumped.
func dumped(_ directory: URL, _ name: String, _ suffix: String) throws -> [UInt8] {
    Array(try Data(contentsOf: directory.appendingPathComponent(name + suffix)))
}

/// Bit patterns of floats, so that NaNs and signed zeros compare exactly.
func bitPatterns(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// Floats from little-endian float32 bytes.
func floatsFromBytes(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count, by: 4).map { index in
        Float(bitPattern: UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
            | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
    }
}

/// Checks that Swift's view of `file` equals Python's: metadata, every tensor's dtype, shape and
/// absolute byte range, the file-offset order, the raw bytes, the float conversion (bit for
/// bit), and the SHA-256.
func expectMatchesPython(_ file: SafeTensorsFile, _ python: PythonView, dumps: URL) throws {
    #expect(file.metadata == python.metadata)
    #expect(file.headerByteCount == python.headerLength)
    #expect(file.sha256() == python.sha256)
    #expect(Set(file.tensors.map(\.name)) == Set(python.tensors.keys))
    let byOffset = python.tensors.sorted { ($0.value.begin, $0.value.end, $0.key) < ($1.value.begin, $1.value.end, $1.key) }
    #expect(file.tensors.map(\.name) == byOffset.map(\.key))
    for (name, entry) in python.tensors {
        let info = try file.info(name)
        #expect(info.dtype.rawValue == entry.dtype, "\(name)")
        #expect(info.shape == entry.shape, "\(name)")
        #expect(info.byteRange == entry.begin ..< entry.end, "\(name)")
        #expect(info.elementCount == entry.shape.reduce(1, *), "\(name)")
        let raw = try dumped(dumps, name, ".raw")
        let bytes = try file.withUnsafeBytes(of: name) { Array($0) }
        #expect(bytes == raw, "\(name): bytes differ from Python's")
        if info.dtype.isFloatingPoint {
            let expected = floatsFromBytes(try dumped(dumps, name, ".f32"))
            let actual = try file.floats(name)
            if info.dtype == .f64 {
                // NaN payloads after double -> float rounding are the CPU's business; compare
                // NaN-ness there and bits everywhere else.
                #expect(actual.map(\.isNaN) == expected.map(\.isNaN), "\(name)")
                #expect(bitPatterns(actual.filter { !$0.isNaN }) == bitPatterns(expected.filter { !$0.isNaN }), "\(name)")
            } else {
                #expect(bitPatterns(actual) == bitPatterns(expected), "\(name): float conversion differs from Python's")
            }
        }
    }
}

// MARK: Hand-built files

/// A safetensors file from a header text and data bytes; `declaredLength` overrides the header
/// length prefix (default: the header's byte count).
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    return lengthPrefix(declaredLength ?? UInt64(json.count)) + json + data
}

func lengthPrefix(_ length: UInt64) -> [UInt8] {
    (0 ..< 8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
}

/// Writes `bytes` to a new file in a fresh temporary directory.
func writeTemporaryFile(_ bytes: [UInt8], name: String = "test.safetensors") throws -> URL {
    let url = try TestEnvironment.makeTemporaryDirectory("ventriq-model").appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// Opens `bytes` as a safetensors file and returns the `ModelFileError` it is rejected with
/// (recording an issue when it opens, or fails with another error), and the file's path.
func rejection(
    _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (error: ModelFileError?, path: String) {
    let url = try writeTemporaryFile(bytes)
    do {
        _ = try SafeTensorsFile(contentsOf: url)
        Issue.record("the file was accepted", sourceLocation: sourceLocation)
        return (nil, url.path)
    } catch let error as ModelFileError {
        return (error, url.path)
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return (nil, url.path)
    }
}

/// Little-endian bytes of floats.
func bytesOf(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
