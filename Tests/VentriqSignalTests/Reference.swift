import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

/// The Python reference (the trainer's package, scipy, numpy, wfdb) and raw-file helpers.
enum Reference {
    /// Runs `script` with the project's Python in the repository root; arguments after it.
    /// `training/` goes first on `sys.path`, so `ventriq_training` is this checkout's source
    /// whether or not the interpreter has the package installed.
    @discardableResult
    static func python(_ script: String, _ arguments: [String] = []) throws -> String {
        let prelude = "import sys; sys.path.insert(0, 'training')\n"
        return try TestEnvironment.runPython(prelude + script, arguments: arguments).stdout
    }

    /// Raw little-endian float32 values of a file Python wrote with `ndarray.tofile`.
    static func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// Raw little-endian float64 values of a file Python wrote with `ndarray.tofile`.
    static func doubles(_ url: URL) throws -> [Double] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0 ..< data.count / 8).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }

    static func decodeSpec(_ json: String) throws -> ConditioningSpec {
        try JSONDecoder().decode(ConditioningSpec.self, from: Data(json.utf8))
    }

    /// The preprocessing spec in the default model file's config.
    static func defaultModelSpec() throws -> ConditioningSpec {
        try cachedDefaultSpec.get()
    }

    private static let cachedDefaultSpec: Result<ConditioningSpec, any Error> = Result {
        let json = try python("""
            import json
            from safetensors import safe_open
            with safe_open('models/ventriq-compact.safetensors', 'np') as f:
                meta = f.metadata()
            print(json.dumps(json.loads(meta['config'])['preprocessing']))
            """)
        return try decodeSpec(json)
    }

    /// `coefficients(PreprocessConfig(**kwargs))` with `kwargs` given as a Python literal.
    static func spec(_ kwargs: String) throws -> ConditioningSpec {
        let json = try python("""
            import json
            from ventriq_training.preprocess import PreprocessConfig, coefficients
            print(json.dumps(coefficients(PreprocessConfig(\(kwargs)))))
            """)
        return try decodeSpec(json)
    }

    /// The model's lead order, `architecture.leads` of the default model's config.
    static func defaultModelLeads() throws -> [String] {
        let json = try python("""
            import json
            from safetensors import safe_open
            with safe_open('models/ventriq-compact.safetensors', 'np') as f:
                meta = f.metadata()
            print(json.dumps(json.loads(meta['config'])['architecture']['leads']))
            """)
        return try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}

/// Distance in units in the last place between two finite floats of the same sign region.
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(Int32(bitPattern: x.bitPattern))
        return bits < 0 ? Int64(Int32.min) - bits : bits
    }
    return Int(abs(ordered(a) - ordered(b)))
}

