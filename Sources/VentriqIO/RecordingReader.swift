import Foundation

/// The entry point for reading ECG recordings, dispatching on the path:
/// - `.hea`, or a `.dat` / extension-less path (or a record name containing dots) with a
///   `.hea` beside it: a WFDB record;
/// - `.csv`: `CSVReader` syntax (header row of leads, optional time column);
/// - `.npy`: a 2-D NumPy array described by `NPYOptions`.
/// Extensions are matched case-insensitively. Every failure is a `RecordingError`.
public enum RecordingReader {
    /// Reads a whole recording into millivolts. The result owns its sample arrays (one `[Float]`
    /// per channel); the file's bytes and any scratch buffers are released before returning.
    public static func read(_ url: URL, options: ReadOptions = ReadOptions()) throws -> Recording {
        let (format, resolved) = try resolve(url)
        switch format {
        case .wfdb: return try WFDBReader.read(headerURL: resolved, verifyChecksums: options.verifyChecksums)
        case .csv: return try CSVReader.read(resolved, options: options.csv)
        case .npy: return try NPYReader.read(resolved, options: options.npy)
        }
    }

    /// Header facts for `ventriq inspect`, without converting samples (a CSV file is parsed whole
    /// to count its rows).
    public static func info(_ url: URL, options: ReadOptions = ReadOptions()) throws -> RecordingInfo {
        let (format, resolved) = try resolve(url)
        switch format {
        case .wfdb: return try WFDBReader.info(headerURL: resolved)
        case .csv: return try CSVReader.info(resolved, options: options.csv)
        case .npy: return try NPYReader.info(resolved, options: options.npy)
        }
    }

    /// The format `url` would be read as; throws what `read` would throw for a missing file or an
    /// unknown extension.
    public static func format(of url: URL) throws -> RecordingFormat {
        try resolve(url).format
    }

    /// The recordings directly inside `directory` (no recursion): `.hea`, `.csv` and `.npy`
    /// files, not hidden, sorted by file name. WFDB records appear once, by their header.
    public static func recordings(in directory: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw RecordingError.fileNotFound(path: directory.path)
        }
        guard isDirectory.boolValue else { throw RecordingError.notADirectory(path: directory.path) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw RecordingError.unreadable(path: directory.path, reason: error.localizedDescription)
        }
        return names
            .filter { name in
                guard !name.hasPrefix(".") else { return false }
                let ext = (name as NSString).pathExtension.lowercased()
                return ext == "hea" || ext == "csv" || ext == "npy"
            }
            .sorted()
            .map { directory.appendingPathComponent($0) }
            .filter { url in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            }
    }

    /// The format and the file to open (the header for WFDB).
    static func resolve(_ url: URL) throws -> (format: RecordingFormat, url: URL) {
        let ext = url.pathExtension.lowercased()
        let exists = { (u: URL) in FileManager.default.fileExists(atPath: u.path) }
        switch ext {
        case "hea":
            guard exists(url) else { throw RecordingError.fileNotFound(path: url.path) }
            return (.wfdb, url)
        case "csv", "npy":
            guard exists(url) else { throw RecordingError.fileNotFound(path: url.path) }
            return (ext == "csv" ? .csv : .npy, url)
        case "dat":
            let header = url.deletingPathExtension().appendingPathExtension("hea")
            guard exists(header) else { throw RecordingError.fileNotFound(path: header.path) }
            return (.wfdb, header)
        default:
            // A record name: `100` or `rec.v2` with `100.hea` / `rec.v2.hea` beside it.
            let header = URL(fileURLWithPath: url.path + ".hea")
            if exists(header) { return (.wfdb, header) }
            guard exists(url) else {
                throw ext.isEmpty ? RecordingError.fileNotFound(path: header.path)
                                  : RecordingError.fileNotFound(path: url.path)
            }
            throw RecordingError.unsupportedExtension(path: url.path, fileExtension: ext)
        }
    }
}
