import ArgumentParser
import Foundation
import Ventriq

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a recording's header facts, or a model's config, tensors, memory plan and hash.",
        discussion: """
            --verify on a WFDB record checks every signal's checksum. On a model it checks the \
            safetensors header, that every weight is finite, that the engine can be built from the \
            config, and, when <model>.golden.safetensors lies beside it, that the engine reproduces \
            the trainer's golden vectors (relative error <= 1e-4 at every stage). Exit status 1 \
            when a check fails.
            """
    )

    @Argument(help: "A recording (WFDB .hea, .csv, .npy) or a model (.safetensors).")
    var path: String

    @Flag(name: .long, help: "Verify WFDB checksums, or a model's integrity and golden vectors.")
    var verify = false

    @Flag(name: .long, help: "For a model: print the arena plan, buffer by buffer.")
    var plan = false

    @Option(name: .long, help: "Directory of trusted public keys for --verify of a signed model (default: $VENTRIQ_TRUSTED_KEYS, else /etc/ventriq/trusted-keys).")
    var trustedKeys: String?

    @OptionGroup var reading: ReadingOptions

    func run() throws {
        let url = URL(fileURLWithPath: path)
        if url.pathExtension.lowercased() == "safetensors" {
            try inspectModel(url)
        } else {
            try inspectRecording(url)
        }
    }

    private func inspectRecording(_ url: URL) throws {
        var options = reading.readOptions()
        options.verifyChecksums = verify
        let info: RecordingInfo
        do {
            info = try RecordingReader.info(url, options: options)
            if verify { _ = try RecordingReader.read(url, options: options) }
        } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        print("record    \(info.name) (\(info.format.rawValue))")
        print("files     \(info.paths.joined(separator: ", "))")
        print("rate      \(info.samplingRateHz) Hz")
        print("length    \(info.sampleCount) samples (\(String(format: "%.3f", info.durationSeconds)) s)")
        print("channels  \(info.channels.count)")
        for (i, c) in info.channels.enumerated() {
            var line = "  \(String(i).leftPadded(2)) \(c.name.padding(toLength: 6, withPad: " ", startingAt: 0)) \(c.unit)"
            if let w = c.wfdb {
                line += "  file \(w.signalFile) format \(w.formatCode) gain \(w.gain) baseline \(w.baseline) adc_zero \(w.adcZero)"
                if let res = w.adcResolution { line += " resolution \(res) bits" }
                if let cs = w.checksum { line += " checksum \(cs)" }
                if w.byteOffset != 0 { line += " offset \(w.byteOffset)" }
            }
            print(line)
        }
        if let w = info.wfdb, !w.comments.isEmpty {
            print("comments  " + w.comments.joined(separator: "\n          "))
        }
        if let n = info.npy { print("npy       version \(n.version), dtype \(n.dtype), shape \(n.shape), fortran_order \(n.fortranOrder)") }
        if verify { print("verify    checksums ok") }
    }

    private func inspectModel(_ url: URL) throws {
        let model: Model
        do { model = try Model(contentsOf: url) } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        let c = model.config, a = c.architecture
        print("model     \(c.name) \(c.modelVersion) (\(model.format), format_version \(c.formatVersion))")
        print("file      \(url.path), \(model.file.fileSize) bytes")
        print("sha256    \(model.sha256)")
        if let fields = ModelSignature.storedFields(of: model.file), let id = fields["signing_key_id"] {
            print("signed    by key \(id), content sha256 \(fields["content_sha256"] ?? "-")")
        } else {
            print("signed    no")
        }
        if let source = model.file.metadata["source_sha256"] { print("source    float model sha256 \(source)") }
        if let q = model.quantization {
            let int8 = q.layers.filter { $0.precision == "int8" }.count
            print("quantized \(q.scheme), activations \(q.activationMethod)\(q.percentile.map { " \($0)" } ?? ""), \(int8) of \(q.layers.count) Linears in int8")
            for l in q.layers {
                let t = l.inputThreshold.map { String(format: "input T %.4g", $0) } ?? ""
                print("  \(l.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(l.precision.padding(toLength: 8, withPad: " ", startingAt: 0)) \(t)")
            }
        }
        if let accuracy = model.file.metadata["accuracy"] { print("accuracy  \(accuracy)") }
        if let study = c.studyModel { print("study     \(study)") }
        print("encoder   \(a.name): ViT, \(a.leads.count) leads x \(a.windowSamples) samples at \(a.fsHz) Hz, patch \(a.patchSize), "
              + "\(a.nTokens) tokens, dim \(a.embedDim), depth \(a.depth), heads \(a.numHeads), MLP \(a.mlpHidden), "
              + "\(a.macsPerWindow) MACs per window")
        print("leads     \(a.leads.joined(separator: " "))")
        print("prep      \(c.preprocessing.settings.chain.joined(separator: " -> ")) (scipy \(c.preprocessing.scipyVersion))")
        print("window    \(c.window.samples) samples (\(c.window.seconds) s), \(c.window.units); \(c.window.recordingAggregation)")
        for t in c.targets {
            let q = c.conformal[t.name] ?? [:]
            print("target    \(t.name) [\(t.unit)]  interval half-widths 80% \(fmt(q["0.8"])) 95% \(fmt(q["0.95"]))")
        }
        for d in c.diseases { print("disease   \(d)  threshold \(fmt(c.thresholds[d], 4))") }
        let weights = model.file.tensors
        print("tensors   \(weights.count), \(weights.reduce(0) { $0 + $1.elementCount }) values")
        for t in weights {
            print("  \(t.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(t.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(t.shape)")
        }
        let interpreter: Interpreter
        do { interpreter = try Interpreter.prepared(model: model) } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        if let m = interpreter.memory {
            print("arena     \(m.arenaBytes) bytes: activations \(m.activationBytes) (lower bound \(m.lowerBoundBytes), "
                  + "without sharing \(m.unsharedBytes)), weights \(m.weightBytes)")
        }
        print("kernels   \(interpreter.kernelName ?? "-")")
        if plan, let p = interpreter.plan { print(p.table) }
        if verify { try verifyModel(model, interpreter: interpreter, url: url) }
    }

    private func verifyModel(_ model: Model, interpreter: Interpreter, url: URL) throws {
        var ok = true
        for t in model.file.tensors where t.dtype.isFloatingPoint {
            let values = try model.file.floats(t.name)
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                diagnose("error: \(url.path): tensor \(t.name) holds a non-finite value (\(values[i])) at index \(i)")
                ok = false
            }
        }
        print("verify    header, offsets and config valid; weights \(ok ? "finite" : "NOT finite"); engine prepared")
        if ModelSignature.storedFields(of: model.file) != nil || model.precision == .int8 {
            do {
                let dir = trustedKeys ?? ProcessInfo.processInfo.environment["VENTRIQ_TRUSTED_KEYS"] ?? "/etc/ventriq/trusted-keys"
                let keys = FileManager.default.fileExists(atPath: dir) ? try TrustedKeys.load(directory: URL(fileURLWithPath: dir)) : TrustedKeys(keys: [])
                let verified = try ModelSignature.verify(model.file, trusting: keys)
                print("verify    signature ok: key \(verified.keyID) (trusted, from \(dir))")
            } catch {
                diagnose("error: \(error)")
                ok = false
            }
        }
        let golden = url.deletingPathExtension().appendingPathExtension("golden.safetensors")
        if FileManager.default.fileExists(atPath: golden.path) {
            let goldenFile = try SafeTensorsFile(contentsOf: golden)
            if let expected = goldenFile.metadata["model_sha256"], expected != model.sha256 {
                diagnose("error: \(golden.path) was computed from a model with sha256 \(expected), not \(model.sha256)")
                ok = false
            }
            for c in try GoldenVectors.compare(interpreter, golden: goldenFile) {
                let pass = c.maxRelativeError <= 1e-4
                ok = ok && pass
                print("  golden \(c.stage.padding(toLength: 14, withPad: " ", startingAt: 0)) max abs \(String(format: "%.3e", c.maxAbsoluteError))  "
                      + "relative \(String(format: "%.3e", c.maxRelativeError))  \(pass ? "ok" : "FAIL")")
            }
        } else {
            print("  no golden vectors beside the model (\(golden.lastPathComponent)); parity not checked")
        }
        if !ok { throw ExitCode(1) }
        print("verify    ok")
    }

    private func fmt(_ v: Double?, _ decimals: Int = 3) -> String {
        v.map { String(format: "%.\(decimals)f", $0) } ?? "-"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
