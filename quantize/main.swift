// `ventriq-quantize`: the quantizer as its own binary (also `ventriq quantize`).
import ArgumentParser
import Foundation
import VentriqQuantCLI

// Usage errors exit with 2 as in `ventriq`, not argument-parser's 64.
do {
    var command = try QuantizeCommand.parseAsRoot()
    try command.run()
} catch let exit as ExitCode {
    Foundation.exit(exit.rawValue)
} catch {
    let code = QuantizeCommand.exitCode(for: error)
    if code == .success {
        print(QuantizeCommand.fullMessage(for: error))
        Foundation.exit(0)
    }
    FileHandle.standardError.write(Data((QuantizeCommand.fullMessage(for: error) + "\n").utf8))
    Foundation.exit(code == .validationFailure ? 2 : 1)
}
