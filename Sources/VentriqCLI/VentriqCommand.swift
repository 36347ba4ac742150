import ArgumentParser
import Foundation
import VentriqQuantCLI

/// `ventriq`: one subcommand per job, each a thin layer over the `Ventriq` library.
/// Data goes to standard output, diagnostics to standard error. Exit codes: 0 success, 1 when
/// any record or check failed (the others still ran), 2 for usage errors.
@main
struct VentriqCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ventriq",
        abstract: "Estimates cardiac MRI measures (LVEF, RVEF, cardiac output) and disease risks from a 12-lead ECG.",
        discussion: "Not for clinical use: the bundled model is trained on a synthetic cohort.",
        version: VentriqVersion.string,
        subcommands: [ScoreCommand.self, StreamCommand.self, InspectCommand.self, BenchCommand.self, ProfileCommand.self, QuantizeCommand.self, KeygenCommand.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            // argument-parser's usage errors exit with 64 (EX_USAGE); Ventriq promises 2.
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            if code == .success {
                print(fullMessage(for: error))  // --help, --version
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data(("error: \(error)\n").utf8))
            Foundation.exit(1)
        }
    }
}

enum VentriqVersion {
    static let string = "0.1.0"
}

/// Writes a line to standard error (diagnostics never go to standard output).
func diagnose(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
