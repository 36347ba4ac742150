import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqIO

@Suite struct CSVReaderTests {
    private func csv(_ text: String, name: String = "ecg.csv") throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-csv")
        let url = dir.appendingPathComponent(name)
        try Files.write(text, to: url)
        return url
    }

    @Test func commentRateHeaderUnitsAndQuotes() throws {
        let url = try csv("""
            # exported by a cart, sampling_rate_hz=500
            "I (mV)", "II [uV]" ,V1,"a ""quoted"" lead"\r
            0.5,1500,-0.25,1\r
            "1e-3", -2.5e2 ,  3 ,0\r

            """)
        let recording = try RecordingReader.read(url)
        #expect(recording.samplingRateHz == 500 && recording.sampleCount == 2)
        #expect(recording.name == "ecg" && recording.source == url.path)
        #expect(recording.channels.map(\.name) == ["I", "II", "V1", "a \"quoted\" lead"])
        #expect(recording.channels.map(\.unit) == ["mV", "uV", "mV", "mV"])
        #expect(recording.channels[0].samples == [0.5, Float(1e-3)])
        #expect(recording.channels[1].samples == [1.5, Float(-250.0 / 1000)])
        #expect(recording.channels[2].samples == [-0.25, 3])
    }

    @Test func byteOrderMarkIsIgnored() throws {
        let url = try csv("\u{FEFF}time,I\n0,1\n0.5,2\n")
        let recording = try RecordingReader.read(url)
        #expect(recording.samplingRateHz == 2 && recording.channels.map(\.name) == ["I"])
    }

    @Test func optionsOverrideRateAndDefaultUnit() throws {
        let url = try csv("# sampling_rate_hz=250 unit=V\nI,II\n1,2\n3,4")
        let fromFile = try RecordingReader.read(url)
        #expect(fromFile.samplingRateHz == 250 && fromFile.channels[1].samples == [2000, 4000])
        let options = ReadOptions(csv: CSVOptions(samplingRateHz: 1000, unit: "uV"))
        let overridden = try RecordingReader.read(url, options: options)
        #expect(overridden.samplingRateHz == 1000 && overridden.channels[1].samples == [0.002, 0.004])
        #expect(overridden.channels[1].unit == "uV")
    }

    @Test func rateFromATimeColumn() throws {
        var text = "time,I,II\n"
        for i in 0..<1000 { text += String(format: "%.3f,%d,%d\n", Double(i) / 500, i, -i) }
        let url = try csv(text)
        let recording = try RecordingReader.read(url)
        #expect(recording.samplingRateHz == 500)
        #expect(recording.channels.map(\.name) == ["I", "II"])
        #expect(recording.channels[1].samples[999] == -999)
        let info = try RecordingReader.info(url)
        #expect(info.csv == CSVFileInfo(timeColumn: "time", rateSource: .timeColumn, headerLine: 1))
        #expect(info.sampleCount == 1000 && info.durationSeconds == 2)

        let ms = try csv("time (ms),I\n0,1\n4,2\n8,3\n")
        #expect(try RecordingReader.read(ms).samplingRateHz == 250)
        // A sample-index column is skipped but carries no rate.
        let index = try csv("sample,I\n0,1\n1,2\n")
        let error = recordingError { _ = try RecordingReader.read(index) }
        guard case .missingSamplingRate(let path, let remedy) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(path == index.path && remedy.contains("sampling_rate_hz=") && remedy.contains("CSVOptions.samplingRateHz"))
        #expect(try RecordingReader.read(index, options: ReadOptions(csv: CSVOptions(samplingRateHz: 100))).channels.count == 1)
    }

    @Test func nonUniformOrConflictingTimeIsRejected() throws {
        let jump = try csv("t,I\n0.000,1\n0.002,1\n0.004,1\n0.010,1\n")
        #expect(recordingError { _ = try RecordingReader.read(jump) }
            == .nonUniformTime(path: jump.path, line: 5, expectedStep: 0.002, foundStep: 0.010 - 0.004))
        let conflict = try csv("# sampling_rate_hz=250\nt,I\n0.000,1\n0.002,1\n0.004,1\n")
        #expect(recordingError { _ = try RecordingReader.read(conflict) }
            == .conflictingSamplingRate(path: conflict.path, timeColumnHz: 500, statedHz: 250, statedBy: "line 1"))
    }

    @Test func nonNumericCellGivesLineColumnNameAndText() throws {
        let url = try csv("# sampling_rate_hz=500\nI,II,III\n1,2,3\n\n4, abc ,6\n")
        let error = recordingError { _ = try RecordingReader.read(url) }
        #expect(error == .nonNumericCell(path: url.path, line: 5, column: 2, columnName: "II", text: "abc"))
        #expect(error?.description == "\(url.path): line 5, column 2 ('II'): expected a number, found 'abc'")
        for bad in ["", "1.2.3", "0x10", "1e", "--1", "1 2"] {
            let url = try csv("I,II\n1,\(bad)\n")
            let options = ReadOptions(csv: CSVOptions(samplingRateHz: 500))
            #expect(recordingError { _ = try RecordingReader.read(url, options: options) }
                == .nonNumericCell(path: url.path, line: 2, column: 2, columnName: "II", text: bad), "'\(bad)'")
        }
    }

    @Test func nanAndInfiniteCellsAreRejected() throws {
        for bad in ["NaN", "nan", "inf", "-Infinity", "1e999"] {
            let url = try csv("# sampling_rate_hz=500\ntime_s,I\n0,1\n0.002,\(bad)\n")
            let error = recordingError { _ = try RecordingReader.read(url) }
            #expect(error == .nonFiniteCell(path: url.path, line: 4, column: 2, columnName: "I", text: bad), "\(bad)")
            #expect(error?.description.contains("line 4, column 2 ('I')") == true)
        }
    }

    @Test func raggedRowsAreRejectedWithTheLine() throws {
        let url = try csv("# sampling_rate_hz=500\nI,II\n1,2\n3\n")
        #expect(recordingError { _ = try RecordingReader.read(url) }
            == .raggedRow(path: url.path, line: 4, expectedColumns: 2, foundColumns: 1))
        let wide = try csv("# sampling_rate_hz=500\nI,II\n1,2,3\n")
        #expect(recordingError { _ = try RecordingReader.read(wide) }
            == .raggedRow(path: wide.path, line: 3, expectedColumns: 2, foundColumns: 3))
    }

    @Test func unknownUnitsAndMissingDataAreRejected() throws {
        let url = try csv("# sampling_rate_hz=500\nI (mmHg),II\n1,2\n")
        #expect(recordingError { _ = try RecordingReader.read(url) }
            == .unknownUnit(path: url.path, line: 2, channel: "I", unit: "mmHg"))
        let empty = try csv("# sampling_rate_hz=500\nI,II\n")
        guard case .noSamples(let path, _) = recordingError({ _ = try RecordingReader.read(empty) }) else {
            Issue.record("expected noSamples")
            return
        }
        #expect(path == empty.path)
        let bad = try csv("# sampling_rate_hz=fast\nI\n1\n")
        #expect(recordingError { _ = try RecordingReader.read(bad) }
            == .invalidSamplingRate(path: bad.path, line: 1, text: "fast"))
    }

    /// Parsing matches Python's `float()` (correctly rounded) then the float32 cast, for numbers
    /// written with 17 significant digits, exponents and in µV.
    @Test func valuesMatchPythonParsing() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-csv-ref")
        try TestEnvironment.runPython(#"""
import sys, numpy as np
rng = np.random.default_rng(7)
n = 2000
a = rng.normal(0, 1.5, n); b = rng.normal(0, 900, n); c = rng.uniform(-1e-3, 1e-3, n) * 10.0 ** rng.integers(-6, 6, n)
rows = ["# sampling_rate_hz=500", "I (mV),V1 (uV),V2"]
rows += [f"{float(x)!r},{y:.9e},{float(z)!r}" for x, y, z in zip(a, b, c)]
open(sys.argv[1] + "/x.csv", "w").write("\n".join(rows) + "\n")
cells = [line.split(",") for line in rows[2:]]
cols = [np.array([float(r[k]) for r in cells]) for k in range(3)]
ref = np.stack([cols[0].astype(np.float32), (cols[1] / 1000.0).astype(np.float32), cols[2].astype(np.float32)])
ref.astype("<f4").tofile(sys.argv[1] + "/x.ref")
"""#, arguments: [dir.path])
        let recording = try RecordingReader.read(dir.appendingPathComponent("x.csv"))
        let reference = try Files.float32LE(dir.appendingPathComponent("x.ref"))
        #expect(recording.sampleCount == 2000)
        for (c, channel) in recording.channels.enumerated() {
            let expected = Array(reference[c * 2000 ..< (c + 1) * 2000])
            #expect(firstMismatch(channel.samples, expected) == nil, "column \(c)")
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// 10 s x 12 leads at 500 Hz with a time column: parsed from bytes, well under a second even
    /// in a debug build.
    @Test func tenSecondsOfTwelveLeadsIsFast() throws {
        var text = "# sampling_rate_hz=500\ntime," + NPYOptions.standardLeadNames.joined(separator: ",") + "\n"
        for i in 0..<5000 {
            text += String(format: "%.3f", Double(i) / 500)
            for lead in 0..<12 { text += String(format: ",%.6f", sin(Double(i * (lead + 1)) * 0.001)) }
            text += "\n"
        }
        let url = try csv(text)
        let start = Date()
        let recording = try RecordingReader.read(url)
        let seconds = Date().timeIntervalSince(start)
        #expect(recording.sampleCount == 5000 && recording.channels.count == 12)
        #expect(recording.channels[11].samples[4999] == Float(Double(String(format: "%.6f", sin(Double(4999 * 12) * 0.001)))!))
        #expect(seconds < 1.0, "read took \(seconds) s")
    }
}
