import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqIO

/// Bad WFDB input: each case gets its specific error naming the file and the line or byte offset.
@Suite struct WFDBErrorTests {
    /// A 2-signal format-16 record of 10 frames: header text (with `signalLines` substituted)
    /// and the signal file, in a fresh directory.
    private func record(_ header: String, dat: [Int16]? = Array(0..<20).map { Int16($0 * 37 - 300) },
                        datName: String = "r.dat") throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-wfdb-bad")
        let url = dir.appendingPathComponent("r.hea")
        try Files.write(header, to: url)
        if let dat { try Files.write(Files.int16LE(dat), to: dir.appendingPathComponent(datName)) }
        return url
    }

    private static let sums = (0..<2).map { c in (0..<10).reduce(0) { $0 + ($1 * 2 + c) * 37 - 300 } }

    @Test func missingSignalFileNamesTheFileAndLine() throws {
        let url = try record("r 2 500 10\n# comment\nr.dat 16 200/mV 16 0 0 0 0 I\nnone.dat 16 200/mV 16 0 0 0 0 II\n")
        let error = recordingError { _ = try RecordingReader.read(url) }
        let missing = url.deletingLastPathComponent().appendingPathComponent("none.dat").path
        #expect(error == .missingSignalFile(header: url.path, line: 4, signalFile: missing))
        #expect(error?.description.contains("none.dat") == true)
        #expect(error?.description.contains("line 4") == true)
    }

    @Test func truncatedSignalFileGivesTheByteOffsetAndExpectedBytes() throws {
        let url = try record("r 2 500 10\nr.dat 16 200/mV\nr.dat 16 200/mV\n", dat: Array(repeating: 1, count: 17))
        let error = recordingError { _ = try RecordingReader.read(url) }
        let dat = url.deletingLastPathComponent().appendingPathComponent("r.dat").path
        guard case .truncated(let path, let offset, let start, let expected, _) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(path == dat && offset == 34 && start == 0 && expected == 40)
        #expect(error!.description.contains("r.dat: data ends at byte offset 34"))
        #expect(error!.description.contains("needs 40 bytes"))
    }

    @Test func truncatedPackedFileCountsPartialBlocks() throws {
        // 5 samples of format 212 need 8 bytes (two 3-byte pairs and a 2-byte half pair); 7 is short.
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-wfdb-bad")
        let url = dir.appendingPathComponent("p.hea")
        try Files.write("p 1 500 5\np.dat 212+2 200/mV\n", to: url)
        try Files.write([UInt8](repeating: 0, count: 9), to: dir.appendingPathComponent("p.dat"))
        let error = recordingError { _ = try RecordingReader.read(url) }
        guard case .truncated(_, let offset, let start, let expected, _) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(offset == 9 && start == 2 && expected == 8)
        // With the 10th byte the record reads.
        try Files.write([UInt8](repeating: 0, count: 10), to: dir.appendingPathComponent("p.dat"))
        #expect(try RecordingReader.read(url).channels[0].samples == [Float](repeating: 0, count: 5))
    }

    @Test func unknownFormatCodeListsTheSupportedOnes() throws {
        for code in ["17", "508"] {
            let url = try record("r 2 500 10\nr.dat 16 200/mV\nr.dat \(code) 200/mV\n")
            let error = recordingError { _ = try RecordingReader.read(url) }
            #expect(error == .unknownFormat(path: url.path, line: 3, format: code, supported: WFDBFormat.supportedCodes))
            #expect(error?.description.contains("line 3: unknown signal format '\(code)'") == true)
            #expect(error?.description.contains("8, 16, 24, 32, 61, 80, 160, 212, 310, 311") == true)
        }
    }

    @Test func fewerSignalLinesThanDeclared() throws {
        let url = try record("r 3 500 10\nr.dat 16 200/mV\n\n# between\nr.dat 16 200/mV\n# trailing comment\n")
        let error = recordingError { _ = try RecordingReader.read(url) }
        #expect(error == .missingSignalLines(path: url.path, line: 6, declared: 3, found: 2))
        #expect(error?.description.contains("line 6: expected signal line 3 of 3") == true)
    }

    @Test func checksumMismatchOnlyWhenVerifying() throws {
        let bad = Self.sums[1] + 1
        let url = try record("r 2 500 10\nr.dat 16 200/mV 16 0 0 \(Self.sums[0]) 0 I\nr.dat 16 200/mV 16 0 0 \(bad) 0 II\n")
        let error = recordingError { _ = try RecordingReader.read(url, options: ReadOptions(verifyChecksums: true)) }
        #expect(error == .checksumMismatch(path: url.path, line: 3, channel: "II", expected: bad,
                                           computed: Self.sums[1] & 0xFFFF))
        #expect(error?.description.contains("line 3: checksum mismatch for signal 'II'") == true)
        let unchecked = try RecordingReader.read(url, options: ReadOptions(verifyChecksums: false))
        #expect(unchecked.channels[1].samples[0] == Float((Double(-263) - 0) / 200))
    }

    @Test func checksumsWrittenSignedOrUnsignedBothVerify() throws {
        // The sums are negative; WFDB writes them as signed or unsigned 16-bit values.
        let signed = Self.sums.map { Int(Int16(truncatingIfNeeded: $0)) }
        let unsigned = Self.sums.map { $0 & 0xFFFF }
        for sums in [signed, unsigned] {
            let url = try record("r 2 500 10\nr.dat 16 200/mV 16 0 0 \(sums[0]) 0 I\nr.dat 16 200/mV 16 0 0 \(sums[1]) 0 II\n")
            #expect(try RecordingReader.read(url).channels.count == 2)
        }
    }

    @Test func unknownUnitNamesTheChannel() throws {
        for unit in ["adu", "mmHg"] {
            let url = try record("r 2 500 10\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/\(unit) 16 0 0 0 0 II\n")
            let error = recordingError { _ = try RecordingReader.read(url) }
            #expect(error == .unknownUnit(path: url.path, line: 3, channel: "II", unit: unit))
            #expect(error?.description.contains("unknown unit '\(unit)' for channel 'II'") == true)
        }
    }

    @Test func multiSegmentRecordsAreNotSupported() throws {
        let url = try record("r/2 2 500 20\nseg1 10\nseg2 10\n")
        let error = recordingError { _ = try RecordingReader.read(url) }
        #expect(error == .unsupported(path: url.path, line: 1, feature: "multi-segment record 'r/2' (2 segments)"))
    }

    @Test func malformedFieldsAreSyntaxErrorsWithTheLine() throws {
        let cases: [(String, Int)] = [
            ("r two 500 10\n", 1),
            ("r 1 500 ten\n", 1),
            ("r 1 500 10\nr.dat 16 abc/mV\n", 2),
            ("r 1 500 10\nr.dat 16x 200/mV\n", 2),
            ("r 1 500 10\nr.dat 16 200(1.5)/mV\n", 2),
            ("r 1 500 10\nr.dat 16 200/mV twelve\n", 2),
            ("r 1 500 10\nr.dat 16 200/mV\nr.dat 16 200/mV\n", 3),
        ]
        for (header, line) in cases {
            let url = try record(header)
            let error = recordingError { _ = try RecordingReader.read(url) }
            guard case .syntax(let path, let reported, _, _) = error else {
                Issue.record("\(header): got \(String(describing: error))")
                continue
            }
            #expect(path == url.path && reported == line, "\(header)")
        }
        let url = try record("r 1 -5 10\nr.dat 16\n")
        #expect(recordingError { _ = try RecordingReader.read(url) } == .invalidSamplingRate(path: url.path, line: 1, text: "-5"))
    }

    @Test func signalsSharingAFileMustShareTheFormat() throws {
        let url = try record("r 2 500 10\nr.dat 16 200/mV\nr.dat 61 200/mV\n")
        let error = recordingError { _ = try RecordingReader.read(url) }
        guard case .inconsistentSignalFile(_, 3, "r.dat", _) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
    }

    @Test func microSignAndGreekMuBothMeanMicrovolts() throws {
        var samples: [[Float]] = []
        for unit in ["uV", "\u{00B5}V", "\u{03BC}V", "microvolts"] {
            let url = try record("r 2 500 10\nr.dat 16 3.3(7)/\(unit)\nr.dat 16 200/mV\n")
            samples.append(try RecordingReader.read(url).channels[0].samples)
        }
        #expect(samples.allSatisfy { $0 == samples[0] })
        #expect(samples[0][0] == Float((Double(-300) - 7) / 3.3 / 1000))
    }

    @Test func hostileNumbersGiveErrorsNotCrashes() throws {
        let huge = "9223372036854775807"
        for header in [
            "r 2 500 \(huge)\nr.dat 16\nr.dat 16\n",
            "r 2 500 4611686018427387904\nr.dat 16\nr.dat 16\n",
            "r 2 500 10\nr.dat 16+\(huge)\nr.dat 16\n",
        ] {
            let url = try record(header)
            guard case .truncated = recordingError({ _ = try RecordingReader.read(url) }) else {
                Issue.record("\(header): expected a truncated error")
                continue
            }
            _ = try? RecordingReader.info(url)  // header facts only: must not crash either
        }
        for header in ["r 2 500 10\nr.dat 16x\(huge)\nr.dat 16\n", "r 2 500 10\nr.dat 16:\(huge)\nr.dat 16\n",
                       "r \(huge) 500 10\nr.dat 16\n"] {
            let url = try record(header)
            let error = recordingError { _ = try RecordingReader.read(url) }
            #expect(error != nil, "\(header)")
        }
        let url = try record("r 2 500 10\nr.dat 16 200/mV 16 0 0 -9223372036854775808 0 I\nr.dat 16\n")
        guard case .checksumMismatch = recordingError({ _ = try RecordingReader.read(url) }) else {
            Issue.record("expected a checksum mismatch")
            return
        }
    }

    @Test func crlfHeaderAndSkewWithinTheRecord() throws {
        let url = try record("r 2 500 10\r\n# c\r\nr.dat 16:3 200/mV 16 0 0 0 0 I\r\nr.dat 16 200/uV 16 0 0 0 0 II\r\n")
        let recording = try RecordingReader.read(url, options: ReadOptions(verifyChecksums: false))
        #expect(recording.channels.map(\.name) == ["I", "II"] && recording.channels[1].unit == "uV")
        // Signal I is delayed 3 frames: frame i comes from frame i + 3; the last 3 are invalid.
        let expected: [Float] = (0..<10).map { (frame: Int) -> Float in
            guard frame + 3 < 10 else { return .nan }
            let digital = 2 * (frame + 3) * 37 - 300
            return Float(Double(digital) / 200)
        }
        #expect(firstMismatch(recording.channels[0].samples, expected) == nil)
    }
}
