import Foundation

/// Paths and tools shared by every test target.
///
/// Tests that compare against the Python reference (scipy, wfdb-python, the trainer) run the
/// project's virtual environment: `$VENTRIQ_PYTHON` when set, else `<repo>/.venv/bin/python`
/// (created by `make setup`, which `make test` runs first). A missing interpreter is a test
/// failure, not a skip: the comparison is the point of those tests.
public enum TestEnvironment {
    /// The repository root (three levels above this file: Tests/VentriqTestSupport/<file>).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `models/` in the repository.
    public static var modelsDirectory: URL { repositoryRoot.appendingPathComponent("models") }

    /// `examples/recordings/` in the repository.
    public static var recordingsDirectory: URL {
        repositoryRoot.appendingPathComponent("examples/recordings")
    }

    /// The bundled default float model and its golden vectors.
    public static var defaultModel: URL { modelsDirectory.appendingPathComponent("ventriq-compact.safetensors") }
    public static var defaultGolden: URL {
        modelsDirectory.appendingPathComponent("ventriq-compact.golden.safetensors")
    }

    /// The Python interpreter with the training package, scipy and wfdb installed.
    public static var python: URL {
        if let env = ProcessInfo.processInfo.environment["VENTRIQ_PYTHON"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.appendingPathComponent(".venv/bin/python")
    }

    /// A fresh empty directory under the system temporary directory, removed by the caller
    /// (or left for inspection when a test fails).
    public static func makeTemporaryDirectory(_ label: String = "ventriq-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The result of running a script with the Python reference.
public struct PythonRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum PythonError: Error, CustomStringConvertible {
    case interpreterMissing(String)
    case failed(status: Int32, stderr: String)

    public var description: String {
        switch self {
        case .interpreterMissing(let path):
            return "Python reference interpreter not found at \(path): run `make setup` or set VENTRIQ_PYTHON"
        case .failed(let status, let stderr):
            return "Python reference script exited with status \(status):\n\(stderr)"
        }
    }
}

extension TestEnvironment {
    /// Runs `python -c script args...` in `directory` (default: the repository root) and returns
    /// its output; throws when the interpreter is missing or the script fails.
    @discardableResult
    public static func runPython(_ script: String, arguments: [String] = [], in directory: URL? = nil) throws -> PythonRun {
        let interpreter = python
        guard FileManager.default.isExecutableFile(atPath: interpreter.path) else {
            throw PythonError.interpreterMissing(interpreter.path)
        }
        let process = Process()
        process.executableURL = interpreter
        process.arguments = ["-c", script] + arguments
        process.currentDirectoryURL = directory ?? repositoryRoot
        // This checkout's training package first, whichever interpreter runs it.
        var environment = ProcessInfo.processInfo.environment
        let training = repositoryRoot.appendingPathComponent("training").path
        environment["PYTHONPATH"] = [training, environment["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a chatty script cannot fill a pipe and stall.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let run = PythonRun(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
        guard run.status == 0 else { throw PythonError.failed(status: run.status, stderr: run.stderr) }
        return run
    }
}
