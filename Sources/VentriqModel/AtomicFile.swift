import Foundation

/// The one way Ventriq writes a file: a temporary file beside the target (created exclusively,
/// with the requested mode), written in full, fsynced, then renamed over the target (or linked
/// to it when an existing file must not be replaced), and the directory fsynced. A reader sees
/// the old file or the complete new one, never a part; on failure the target is untouched and
/// the temporary file removed.
public enum AtomicFile {
    /// What to do when the target exists.
    public enum Existing: Sendable { case replace, refuse }

    /// A failed step: which file, which step, and the errno it failed with.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var path: String
        public var step: String
        public var code: Int32
        /// True when the target existed and `.refuse` was asked for.
        public var targetExists: Bool { code == EEXIST && step.hasPrefix("link") }
        public var reason: String { "\(step): \(String(cString: strerror(code)))" }
        public var description: String { "\(path): cannot write (\(reason))" }
    }

    /// Appends bytes to the temporary file.
    public struct Sink {
        fileprivate let descriptor: Int32
        fileprivate let path: String

        public func write(_ buffer: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure(path: path, step: "write", code: errno)
                }
                done += written
            }
        }

        public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    }

    /// Writes `url` atomically; `body` appends the contents through the sink.
    public static func write(to url: URL, mode: mode_t = 0o644, existing: Existing = .replace, _ body: (Sink) throws -> Void) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp").path
        func failure(_ step: String, _ code: Int32 = errno) -> Failure { Failure(path: path, step: step, code: code) }

        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure("create \(temporary)") }
        var isOpen = true
        do {
            // The umask may have cleared bits of `mode` (never added any): set it exactly.
            guard fchmod(descriptor, mode) == 0 else { throw failure("chmod") }
            try body(Sink(descriptor: descriptor, path: path))
            guard fsync(descriptor) == 0 else { throw failure("fsync") }
            isOpen = false
            guard close(descriptor) == 0 else { throw failure("close") }
            switch existing {
            case .replace:
                guard rename(temporary, path) == 0 else { throw failure("rename \(temporary)") }
            case .refuse:
                guard link(temporary, path) == 0 else { throw failure("link \(temporary)") }
                unlink(temporary)
            }
        } catch {
            if isOpen { close(descriptor) }
            unlink(temporary)
            throw error
        }
        // Make the rename itself durable.
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw failure("open directory \(directory)") }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw failure("fsync directory \(directory)") }
    }

    /// Writes `text` (UTF-8) to `url` atomically.
    public static func write(_ text: String, to url: URL, mode: mode_t = 0o644) throws {
        try write(to: url, mode: mode) { try $0.write(Array(text.utf8)) }
    }
}
