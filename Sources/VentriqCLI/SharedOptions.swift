import ArgumentParser
import Foundation
import Ventriq

/// `--model PATH` and the signature policy, shared by every subcommand that runs a model.
struct ModelOptions: ParsableArguments {
    static let bundledModel = "models/ventriq-compact-int8.safetensors"

    @Option(name: .long, help: ArgumentHelp(
        "Model file (.safetensors).",
        discussion: "Default: $VENTRIQ_MODEL, else \(bundledModel) in the current directory."))
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "Directory of trusted public keys (*.pub).",
        discussion: "Default: $VENTRIQ_TRUSTED_KEYS, else /etc/ventriq/trusted-keys."))
    var trustedKeys: String?

    @Flag(name: .long, help: "Run a model that is unsigned or signed by an untrusted key (warns on every run).")
    var allowUnsigned = false

    /// Loads the model under the signature policy; prints the warning when it runs unverified.
    func load() throws -> Model {
        let url = try resolvedURL()
        let keys = try trustedKeySet()
        let model: Model
        do {
            model = try Model(contentsOf: url, signatures: allowUnsigned ? .allowUnsigned(keys) : .require(keys))
        } catch let error as ModelSignatureError {
            switch error {
            case .unsigned, .untrustedKey:
                throw ModelLoadError(message: "\(error)\n  trusted keys come from --trusted-keys DIR, $VENTRIQ_TRUSTED_KEYS or "
                    + "/etc/ventriq/trusted-keys (\(keys.isEmpty ? "none configured" : "\(keys.count) loaded")); "
                    + "--allow-unsigned runs the model anyway, with a warning")
            default: throw error
            }
        }
        if let warning = model.signature.warning(for: url.path) { diagnose(warning) }
        return model
    }

    /// The trusted keys: --trusted-keys, $VENTRIQ_TRUSTED_KEYS, or /etc/ventriq/trusted-keys
    /// (empty when none is configured, so only --allow-unsigned runs then).
    func trustedKeySet() throws -> TrustedKeys {
        let env = ProcessInfo.processInfo.environment["VENTRIQ_TRUSTED_KEYS"].flatMap { $0.isEmpty ? nil : $0 }
        if let dir = trustedKeys ?? env { return try TrustedKeys.load(directory: URL(fileURLWithPath: dir)) }
        let system = "/etc/ventriq/trusted-keys"
        if FileManager.default.fileExists(atPath: system) { return try TrustedKeys.load(directory: URL(fileURLWithPath: system)) }
        return TrustedKeys(keys: [])
    }

    /// The model path to load, or a usage error saying how to give one.
    func resolvedURL() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        if let env = ProcessInfo.processInfo.environment["VENTRIQ_MODEL"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let bundled = URL(fileURLWithPath: Self.bundledModel)
        guard FileManager.default.fileExists(atPath: bundled.path) else {
            throw ValidationError("no model given: pass --model PATH or set VENTRIQ_MODEL (no \(bundled.path) here)")
        }
        return bundled
    }
}

struct ModelLoadError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `--threads N`, shared by the commands that run the engine (score, stream, bench).
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Threads per window (1...\(Interpreter.maximumThreads)).",
        discussion: "1 (default) runs the engine on the calling thread. N > 1 starts N - 1 worker threads once, "
            + "at model load, and splits each window's GEMMs and attention over all N along their outputs: "
            + "results are bit-identical for every N, and nothing is allocated per window."))
    var threads = 1

    func validate() throws {
        guard (1...Interpreter.maximumThreads).contains(threads) else {
            throw ValidationError("--threads must be between 1 and \(Interpreter.maximumThreads); got \(threads)")
        }
    }
}

/// How CSV and NPY files are read (WFDB headers carry all of this themselves).
struct ReadingOptions: ParsableArguments {
    @Option(name: .long, help: "Sampling rate in Hz for CSV/NPY files that do not state it.")
    var rate: Double?

    @Option(name: .long, help: "Units of CSV/NPY values when the file does not state them: mV, uV or V.")
    var units: String?

    @Option(name: .long, help: "NPY array layout: leads-by-samples or samples-by-leads.")
    var layout: NPYLayoutArgument = .leadsBySamples

    @Option(name: .long, help: "NPY lead names, comma separated, in the array's lead order (default: I,II,III,aVR,aVL,aVF,V1,...,V6).")
    var leads: String?

    @Flag(name: .long, help: "Verify WFDB signal checksums (a mismatch fails the record).")
    var verifyChecksums = false

    func readOptions() -> ReadOptions {
        let names = leads.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        return ReadOptions(
            csv: CSVOptions(samplingRateHz: rate, unit: units),
            npy: NPYOptions(samplingRateHz: rate, unit: units ?? "mV", layout: layout.layout, leadNames: names),
            verifyChecksums: verifyChecksums)
    }
}

enum NPYLayoutArgument: String, ExpressibleByArgument, CaseIterable {
    case leadsBySamples = "leads-by-samples", samplesByLeads = "samples-by-leads"
    var layout: SampleLayout { self == .leadsBySamples ? .leadsBySamples : .samplesByLeads }
}

extension ResultFormat: ExpressibleByArgument {}
extension KernelChoice: ExpressibleByArgument {}
