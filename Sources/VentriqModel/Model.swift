import Foundation

/// A loaded model: the memory-mapped weights file, its decoded config and its SHA-256.
///
/// Final class: owns the mapping (through `file`) for its lifetime. Loading maps the file,
/// validates the safetensors header, decodes and checks the config, and hashes the file once
/// (`sha256`, lowercase hex, reported with every result). Nothing is copied until the engine
/// asks for a tensor.
public final class Model: Sendable {
    /// The `format` metadata value of a float model written by the trainer.
    public static let floatFormat = "ventriq-float"
    /// The `format` of a deployable int8 model written by the quantizer (docs/QUANTIZATION.md).
    public static let int8Format = "ventriq-int8"
    public static let supportedFormatVersion = "1"

    public enum Precision: String, Sendable { case float32, int8 }

    public let url: URL
    public let file: SafeTensorsFile
    public let config: ModelConfig
    /// Lowercase hex SHA-256 of the whole file.
    public let sha256: String
    /// The metadata's `format` ("ventriq-float").
    public let format: String
    /// The raw config JSON, as stored (for `ventriq inspect`).
    public let configJSON: String
    /// float32 for the trainer's export, int8 for a quantized model.
    public let precision: Precision
    /// How an int8 model was quantized (nil for a float model).
    public let quantization: QuantizationInfo?

    /// What was established about the file's signature at load.
    public let signature: SignatureStatus

    /// Loads a model.
    /// - Parameter signatures: `.unchecked` (the default, for tools that inspect or rewrite model
    ///   files) looks at no signature; runtimes pass `.require(trusted)` (refuse unsigned, tampered
    ///   or untrusted files) or `.allowUnsigned(trusted)` (accept those with `signature` saying so,
    ///   but still refuse a signed file whose content no longer matches its digest).
    public init(contentsOf url: URL, signatures: SignaturePolicy = .unchecked) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        let path = url.path
        signature = try SignatureStatus.establish(file, policy: signatures)
        guard let format = file.metadata["format"] else {
            throw ModelConfigError(file: path, field: "__metadata__.format", problem: "missing: not a Ventriq model file")
        }
        guard format == Self.floatFormat || format == Self.int8Format else {
            throw ModelConfigError(file: path, field: "__metadata__.format",
                                   problem: "expected \"\(Self.floatFormat)\" or \"\(Self.int8Format)\", found \"\(format)\"")
        }
        guard let version = file.metadata["format_version"], version == Self.supportedFormatVersion else {
            throw ModelConfigError(
                file: path, field: "__metadata__.format_version",
                problem: "expected \"\(Self.supportedFormatVersion)\", found \(file.metadata["format_version"].map { "\"\($0)\"" } ?? "nothing")")
        }
        guard let json = file.metadata["config"] else {
            throw ModelConfigError(file: path, field: "__metadata__.config", problem: "missing")
        }
        self.url = url
        self.file = file
        self.format = format
        self.configJSON = json
        self.config = try ModelConfig.decode(json: json, file: path)
        if format == Self.int8Format {
            guard let q = file.metadata["quantization"] else {
                throw ModelConfigError(file: path, field: "__metadata__.quantization", problem: "missing in an int8 model")
            }
            let info: QuantizationInfo
            do { info = try JSONDecoder().decode(QuantizationInfo.self, from: Data(q.utf8)) } catch {
                throw ModelConfigError(file: path, field: "__metadata__.quantization", problem: "cannot be decoded: \(error)")
            }
            guard info.scheme == QuantizationInfo.schemeName else {
                throw ModelConfigError(file: path, field: "__metadata__.quantization.scheme",
                                       problem: "expected \"\(QuantizationInfo.schemeName)\", found \"\(info.scheme)\"")
            }
            precision = .int8
            quantization = info
        } else {
            precision = .float32
            quantization = nil
        }
        self.sha256 = file.sha256()
    }
}
