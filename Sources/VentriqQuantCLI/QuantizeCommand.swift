import ArgumentParser
import Foundation
import Ventriq
import VentriqQuant

/// `ventriq-quantize` (and `ventriq quantize`): float checkpoint -> signed int8 model, with the
/// accuracy report and gate. Parses arguments only; the work is `Quantizer.run`.
public struct QuantizeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a float model to a signed int8 model, with calibration and an accuracy gate against the float model.",
        discussion: """
            Calibrates activation scales on CALIBRATION (the trainer's calibration.safetensors, or a \
            directory of recordings run through the model's conditioning), measures each layer's \
            sensitivity, and evaluates float vs int8 on HELDOUT (the trainer's heldout.safetensors: \
            R2 per target, AUROC per disease, embedding cosine). When the gate fails, the most \
            sensitive layers (Linears, attention cores) are kept in float32 (up to --max-float-layers) until it passes. Exit \
            status 1 when the gate still fails (nothing is written), 2 for usage errors. The output \
            is written atomically and never over the input. See docs/QUANTIZATION.md.
            """
    )

    @Argument(help: "The float model (.safetensors, format ventriq-float).")
    var model: String

    @Option(name: .long, help: "Calibration windows: calibration.safetensors or a directory of recordings.")
    var calibration: String

    @Option(name: .long, help: "Labelled held-out set: heldout.safetensors.")
    var heldout: String

    @Option(name: [.short, .long], help: "Output model path.")
    var output: String?

    @Option(name: .long, help: "Activation calibration: minmax, percentile, entropy or mse.")
    var method: String = "entropy"

    @Option(name: .long, help: "The percentile for --method percentile.")
    var percentile: Double = 99.99

    @Option(name: .long, help: "Private key to sign the model with (from `ventriq keygen`).")
    var sign: String?

    @Option(name: .long, help: "Layers to keep in float32, comma separated (e.g. blocks.0.mlp.fc2, blocks.0.attn.core).")
    var keepFloat: String?

    @Option(name: .long, help: "How many layers the gate may move to float32 (0 also skips the sensitivity pass).")
    var maxFloatLayers: Int = 4

    @Option(name: .long, help: "Gate: largest allowed |R2 float - R2 int8| per target.")
    var maxR2Drop: Double = 0.005

    @Option(name: .long, help: "Gate: largest allowed |AUROC float - AUROC int8| per disease.")
    var maxAurocDrop: Double = 0.005

    @Option(name: .long, help: "Gate: smallest allowed mean embedding cosine.")
    var minCosine: Double = 0.999

    @Option(name: .long, help: "Use at most N calibration windows.")
    var calibrationWindows: Int?

    @Option(name: .long, help: "Use at most N held-out recordings.")
    var heldoutRecordings: Int?

    @Option(name: .long, help: "Also write the accuracy report (Markdown) to this file.")
    var report: String?

    @Flag(name: .long, help: "Calibrate and report, but write nothing.")
    var dryRun = false

    public init() {}

    public func validate() throws {
        guard dryRun || output != nil else { throw ValidationError("give --output PATH (or --dry-run)") }
        if let output, URL(fileURLWithPath: output).standardizedFileURL == URL(fileURLWithPath: model).standardizedFileURL {
            throw ValidationError("--output is the input model; the quantizer never overwrites its input")
        }
        guard ["minmax", "percentile", "entropy", "mse"].contains(method) else {
            throw ValidationError("--method must be minmax, percentile, entropy or mse (got \(method))")
        }
        guard percentile > 50, percentile <= 100 else { throw ValidationError("--percentile must be in (50, 100]") }
        guard maxFloatLayers >= 0 else { throw ValidationError("--max-float-layers must not be negative") }
    }

    public func run() throws {
        let stderr = FileHandle.standardError
        func say(_ s: String) { stderr.write(Data(("ventriq-quantize: " + s + "\n").utf8)) }
        do {
            // The key is read first: a bad key file fails before minutes of work.
            let key = try sign.map { try SigningKey.load(privateKeyAt: URL(fileURLWithPath: $0)) }
            let source = try Model(contentsOf: URL(fileURLWithPath: model))
            let set = try CalibrationSet.load(URL(fileURLWithPath: calibration), model: source, limit: calibrationWindows)
            let held = try HeldoutSet.load(URL(fileURLWithPath: heldout), model: source, limit: heldoutRecordings)
            var options = QuantizeOptions()
            options.method = switch method {
            case "minmax": .minmax
            case "entropy": .entropy
            case "mse": .mse
            default: .percentile(percentile)
            }
            options.keepFloat = Set((keepFloat ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            options.maxFloatLayers = maxFloatLayers
            options.gate = AccuracyGate(maxR2Drop: maxR2Drop, maxAUROCDrop: maxAurocDrop, minMeanCosine: minCosine)
            var outcome = try Quantizer.run(source: source, calibration: set, heldout: held, options: options, progress: say)
            print(outcome.report.table)
            print("int8 layers: \(outcome.int8Layers.count) of \(outcome.int8Layers.count + outcome.floatLayers.count)"
                  + (outcome.floatLayers.isEmpty ? "" : "; float32: \(outcome.floatLayers.joined(separator: ", "))"))
            guard outcome.violations.isEmpty else {
                say("accuracy gate failed: \(outcome.violations.joined(separator: "; ")); nothing written")
                throw ExitCode(1)
            }
            print("accuracy gate: passed (|dR2| <= \(maxR2Drop), |dAUROC| <= \(maxAurocDrop), mean cosine >= \(minCosine))")
            if let key {
                _ = try ModelSignature.sign(writer: &outcome.writer, with: key)
                print("signed with key \(key.publicKey.id)")
            } else {
                say("warning: the model is not signed (--sign KEY); runtimes refuse it unless --allow-unsigned")
            }
            guard let output, !dryRun else { return }
            try outcome.writer.write(to: URL(fileURLWithPath: output))
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            print("wrote \(output) (\(size) bytes; float model \(source.file.fileSize) bytes)")
            if let report {
                let name = URL(fileURLWithPath: output).lastPathComponent
                let floatNote = outcome.floatLayers.isEmpty ? "" : "; kept in float32: " + outcome.floatLayers.joined(separator: ", ")
                let sensitivities = outcome.sensitivity.sorted { $0.value > $1.value }
                    .map { "- \($0.key): \(String(format: "%.3e", $0.value))" }.joined(separator: "\n")
                var lines = ["# \(name)", ""]
                lines.append("Int8 model made by `ventriq-quantize` \(QuantizerVersion.string) from `\(URL(fileURLWithPath: model).lastPathComponent)` "
                             + "(sha256 \(source.sha256)); scheme: docs/QUANTIZATION.md.")
                lines.append("Activation calibration: \(options.method.name)\(options.method.percentileValue.map { " \($0)" } ?? "") on "
                             + "\(set.windows.count) windows; accuracy on \(held.recordings.count) held-out recordings.")
                lines.append("Size: \(size) bytes (float: \(source.file.fileSize) bytes). Signed: \(key.map { "key \($0.id)" } ?? "no").")
                lines += ["", "Int8 layers (Linears and attention cores): \(outcome.int8Layers.count) of \(outcome.int8Layers.count + outcome.floatLayers.count)\(floatNote).", ""]
                lines += ["```", outcome.report.table, "```", ""]
                lines += outcome.sensitivity.isEmpty
                    ? ["Sensitivity: not measured (--max-float-layers 0).", ""]
                    : ["Sensitivity (1 - mean embedding cosine with only that layer in int8, on the calibration windows):", "", sensitivities, ""]
                try AtomicFile.write(lines.joined(separator: "\n"), to: URL(fileURLWithPath: report))
                print("wrote \(report)")
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            say("error: \(error)")
            throw ExitCode(1)
        }
    }
}

