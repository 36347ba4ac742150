import ArgumentParser
import Foundation
import Ventriq

/// `--model PATH`, shared by every subcommand that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Model file (.safetensors).",
        discussion: "Default: $VENTRIQ_MODEL, else models/ventriq-compact.safetensors in the current directory."))
    var model: String?

    /// The model path to load, or a usage error saying how to give one.
    func resolvedURL() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        if let env = ProcessInfo.processInfo.environment["VENTRIQ_MODEL"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let bundled = URL(fileURLWithPath: "models/ventriq-compact.safetensors")
        guard FileManager.default.fileExists(atPath: bundled.path) else {
            throw ValidationError("no model given: pass --model PATH or set VENTRIQ_MODEL (no \(bundled.path) here)")
        }
        return bundled
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
