import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqIO

@Suite struct RecordingReaderTests {
    private let example = TestEnvironment.recordingsDirectory.appendingPathComponent("normal_00252.hea")

    @Test func dispatchByExtension() throws {
        let record = example.deletingPathExtension()
        #expect(try RecordingReader.format(of: example) == .wfdb)
        let fromHeader = try RecordingReader.read(example)
        // The signal file and the bare record name find the same header.
        for url in [record.appendingPathExtension("dat"), record] {
            let recording = try RecordingReader.read(url)
            #expect(recording == fromHeader)
            #expect(recording.source == example.path)
        }
        #expect(fromHeader.name == "normal_00252")
        #expect(fromHeader.durationSeconds == 10)
        #expect(fromHeader.channel(named: "avr")?.name == "aVR")

        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-dispatch")
        let text = dir.appendingPathComponent("notes.txt")
        try Files.write("I\n1\n", to: text)
        #expect(recordingError { _ = try RecordingReader.read(text) }
            == .unsupportedExtension(path: text.path, fileExtension: "txt"))
        #expect(recordingError { _ = try RecordingReader.read(text) }?.description.contains(".hea") == true)
        let missing = dir.appendingPathComponent("absent.csv")
        #expect(recordingError { _ = try RecordingReader.read(missing) } == .fileNotFound(path: missing.path))
        let noHeader = dir.appendingPathComponent("lonely.dat")
        try Files.write([0, 0], to: noHeader)
        #expect(recordingError { _ = try RecordingReader.read(noHeader) }
            == .fileNotFound(path: dir.appendingPathComponent("lonely.hea").path))

        // A record name with a dot, and upper-case extensions.
        let dotted = dir.appendingPathComponent("rec.v2")
        try Files.write("rec.v2 1 100 2\nrec.v2.dat 16 100/mV\n", to: dir.appendingPathComponent("rec.v2.hea"))
        try Files.write(Files.int16LE([100, -50]), to: dir.appendingPathComponent("rec.v2.dat"))
        #expect(try RecordingReader.read(dotted).channels[0].samples == [1, -0.5])
        let upper = dir.appendingPathComponent("UP.CSV")
        try Files.write("# sampling_rate_hz=10\nI\n1\n", to: upper)
        #expect(try RecordingReader.format(of: upper) == .csv)
    }

    @Test func recordingsInADirectoryAreSortedAndFiltered() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-dir")
        for name in ["b.csv", "a.hea", "a.dat", "c.npy", "notes.json", ".hidden.csv", "D.HEA"] {
            try Files.write("x", to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("folder.csv"), withIntermediateDirectories: false)
        let found = try RecordingReader.recordings(in: dir).map(\.lastPathComponent)
        #expect(found == ["D.HEA", "a.hea", "b.csv", "c.npy"])

        let examples = try RecordingReader.recordings(in: TestEnvironment.recordingsDirectory)
        #expect(examples.count == 5 && examples.allSatisfy { $0.pathExtension == "hea" })
        #expect(examples.map(\.lastPathComponent) == examples.map(\.lastPathComponent).sorted())

        let file = dir.appendingPathComponent("b.csv")
        #expect(recordingError { _ = try RecordingReader.recordings(in: file) } == .notADirectory(path: file.path))
        let absent = dir.appendingPathComponent("nope")
        #expect(recordingError { _ = try RecordingReader.recordings(in: absent) } == .fileNotFound(path: absent.path))
    }

    @Test func wfdbInfoReportsHeaderFacts() throws {
        let info = try RecordingReader.info(example)
        let dat = TestEnvironment.recordingsDirectory.appendingPathComponent("normal_00252.dat").path
        #expect(info.format == .wfdb && info.name == "normal_00252")
        #expect(info.paths == [example.path, dat])
        #expect(info.samplingRateHz == 500 && info.sampleCount == 5000 && info.durationSeconds == 10)
        #expect(info.channels.map(\.name) == NPYOptions.standardLeadNames)
        #expect(info.wfdb?.recordName == "normal_00252" && info.wfdb?.sampleCountInHeader == true)
        #expect(info.wfdb?.comments.first?.hasPrefix("Ventriq synthetic subject") == true)
        let first = try #require(info.channels.first?.wfdb)
        #expect(first == WFDBSignalInfo(
            signalFile: "normal_00252.dat", formatCode: 16, gain: 1000, baseline: 0, adcZero: 0, adcResolution: 16,
            initialValue: 4, checksum: 34117, byteOffset: 0, samplesPerFrame: 1, skew: 0, blockSize: 0, headerLine: 2))
        #expect(info.channels.allSatisfy { $0.unit == "mV" })
    }

    @Test func wfdbInfoAppliesDefaultsAndInfersTheLength() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-info")
        let header = dir.appendingPathComponent("r.hea")
        try Files.write("r 2\nr.dat 212x2:1+3 0(-5)\nr.dat 212 12.5/uV 12 7\n", to: header)
        try Files.write([UInt8](repeating: 0, count: 3 + 30), to: dir.appendingPathComponent("r.dat"))
        let info = try RecordingReader.info(header)
        // 30 bytes of format 212 hold 20 samples; 3 per frame -> 6 frames.
        #expect(info.sampleCount == 6 && info.samplingRateHz == 250 && info.wfdb?.sampleCountInHeader == false)
        #expect(info.channels.map(\.name) == ["signal 0", "signal 1"])
        let (a, b) = (try #require(info.channels[0].wfdb), try #require(info.channels[1].wfdb))
        #expect(a.gain == 200 && a.baseline == -5 && a.samplesPerFrame == 2 && a.skew == 1 && a.byteOffset == 3)
        #expect(a.adcResolution == nil && a.checksum == nil && info.channels[0].unit == "mV")
        #expect(b.gain == 12.5 && b.baseline == 7 && b.adcZero == 7 && info.channels[1].unit == "uV")
    }

    @Test func csvAndNPYInfo() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-info")
        let csv = dir.appendingPathComponent("x.csv")
        try Files.write("# sampling_rate_hz=100\n\nI (uV),II\n1,2\n3,4\n5,6\n", to: csv)
        let csvInfo = try RecordingReader.info(csv)
        #expect(csvInfo.format == .csv && csvInfo.sampleCount == 3 && csvInfo.durationSeconds == 0.03)
        #expect(csvInfo.channels == [ChannelInfo(name: "I", unit: "uV"), ChannelInfo(name: "II", unit: "mV")])
        #expect(csvInfo.csv == CSVFileInfo(timeColumn: nil, rateSource: .commentLine, headerLine: 3))

        let npy = dir.appendingPathComponent("x.npy")
        let header = "{'descr': '<i2', 'fortran_order': True, 'shape': (4, 2), }\n"
        try Files.write([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
                        + Files.int16LE([1, 2, 3, 4, 5, 6, 7, 8]), to: npy)
        let options = ReadOptions(npy: NPYOptions(samplingRateHz: 2, layout: .samplesByLeads, leadNames: ["I", "II"]))
        let npyInfo = try RecordingReader.info(npy, options: options)
        #expect(npyInfo.format == .npy && npyInfo.sampleCount == 4 && npyInfo.durationSeconds == 2)
        #expect(npyInfo.npy == NPYFileInfo(version: "1.0", dtype: "<i2", fortranOrder: true, shape: [4, 2],
                                           layout: .samplesByLeads, dataOffset: 10 + header.utf8.count))
        // Fortran order, (samples, leads): lead I is the first column, stored first.
        #expect(try RecordingReader.read(npy, options: options).channels.map(\.samples) == [[1, 2, 3, 4], [5, 6, 7, 8]])
    }
}
