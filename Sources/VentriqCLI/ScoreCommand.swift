import ArgumentParser
import Foundation
import Ventriq

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score ECG recordings: LVEF, RVEF and cardiac output with intervals, disease probabilities and flags.",
        discussion: """
            RECORD is a WFDB record (its .hea, or the path without extension), a .csv or .npy file, \
            or a directory of them. A recording longer than one model window is cut into consecutive \
            non-overlapping windows from its first sample (the tail shorter than a window is not \
            scored); the result is the mean of the windows' outputs. Recordings at another rate are \
            resampled to the model's rate. Exit status: 0 when every record scored, 1 when any \
            failed (the others are still scored), 2 for usage errors.
            """
    )

    @Argument(help: "Recordings: WFDB records, .csv or .npy files, or directories of them.")
    var records: [String]

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var reading: ReadingOptions
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Output format: jsonl, csv or text.")
    var format: ResultFormat = .jsonl

    @Option(name: .long, help: "Kernels: auto, reference, avx2, avx512, avx512_vnni, avx_vnni, neon or neon_dotprod.")
    var kernels: KernelChoice = .automatic

    @Option(name: .long, help: "Write results to FILE (atomically, when all records are done) instead of standard output.")
    var output: String?

    func validate() throws {
        if records.isEmpty { throw ValidationError("give at least one RECORD") }
        if !kernels.isAvailable { throw ValidationError("--kernels \(kernels.rawValue) is not available in this build or on this CPU") }
        if let output, FileManager.default.fileExists(atPath: output),
           (try? FileManager.default.attributesOfItem(atPath: output)[.type] as? FileAttributeType) == .typeDirectory {
            throw ValidationError("--output \(output) is a directory")
        }
    }

    func run() throws {
        let paths = expand(records)
        let model: Model
        do { model = try modelOptions.load() } catch let e as ValidationError { throw e } catch {
            diagnose("error: cannot load model: \(error)")
            throw ExitCode(1)
        }
        let scorer = try Scorer(model: model, kernels: kernels, threads: threading.threads)
        let writer = ResultWriter(format: format)
        let options = reading.readOptions()
        var failed = paths.failures.count
        var lines: [String] = []
        func emit(_ line: String) {
            if output == nil { print(line) } else { lines.append(line) }
        }
        if let header = writer.header(targets: model.config.targets.map(\.name), diseases: model.config.diseases) { emit(header) }
        var progress = Progress(total: paths.urls.count)
        for url in paths.urls {
            do {
                emit(try writer.line(scorer.score(contentsOf: url, options: options)))
            } catch {
                failed += 1
                diagnose("error: \(error)")
            }
            progress.step(failed: failed)
        }
        if let output {
            try writeFileAtomically(lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n", to: URL(fileURLWithPath: output))
            diagnose("ventriq score: \(paths.urls.count - (failed - paths.failures.count)) of \(paths.urls.count + paths.failures.count) records scored -> \(output)")
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// Files to score, with directories expanded (sorted) and unreadable arguments reported.
    private func expand(_ arguments: [String]) -> (urls: [URL], failures: [String]) {
        var urls: [URL] = [], failures: [String] = []
        for argument in arguments {
            let url = URL(fileURLWithPath: argument)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
                do {
                    let found = try RecordingReader.recordings(in: url)
                    if found.isEmpty {
                        failures.append(argument)
                        diagnose("error: \(argument): directory holds no .hea, .csv or .npy recordings")
                    }
                    urls += found
                } catch {
                    failures.append(argument)
                    diagnose("error: \(error)")
                }
            } else {
                urls.append(url)  // a missing file is reported by the reader, naming it
            }
        }
        return (urls, failures)
    }
}

/// Progress on standard error for long batches: a line every 5 s, only when there is more than
/// one record.
struct Progress {
    let total: Int
    var done = 0
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastReport = DispatchTime.now().uptimeNanoseconds

    init(total: Int) { self.total = total }

    mutating func step(failed: Int) {
        done += 1
        let now = DispatchTime.now().uptimeNanoseconds
        guard total > 1, now - lastReport >= 5_000_000_000 || (done == total && now - start >= 5_000_000_000) else { return }
        lastReport = now
        let seconds = Double(now - start) / 1e9
        diagnose("ventriq score: \(done)/\(total) records, \(failed) failed, \(String(format: "%.1f", seconds)) s")
    }
}
