import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqIO

@Suite struct NPYReaderTests {
    struct Entry: Decodable {
        var name: String
        var layout: String
        var unit: String
        var leads: Int
        var samples: Int
    }

    /// numpy writes every supported dtype in C and Fortran order, both layouts, header versions
    /// 1.0, 2.0 and 3.0; the reference is `(array * scale).astype(float32)` leads-major.
    @Test func numpyWrittenArraysMatchNumpy() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-npy")
        try TestEnvironment.runPython(#"""
import json, sys, numpy as np
from numpy.lib import format as npformat
out = sys.argv[1]
rng = np.random.default_rng(3)
manifest = []
def case(name, arr, layout, unit="mV", version=None):
    path = f"{out}/{name}.npy"
    if version is None:
        np.save(path, arr)
    else:
        with open(path, "wb") as f:
            npformat.write_array(f, arr, version=version)
    leads_major = arr if layout == "leadsBySamples" else arr.T
    scale = {"mV": 1.0, "uV": 1e-3, "V": 1e3}[unit]
    x = leads_major.astype(np.float64)
    x = x / 1000.0 if unit == "uV" else (x * 1000.0 if unit == "V" else x)
    x.astype("<f4").tofile(f"{out}/{name}.ref")
    manifest.append({"name": name, "layout": layout, "unit": unit, "leads": leads_major.shape[0],
                     "samples": leads_major.shape[1]})
for dtype in ["<f4", "<f8", "<i2", "|i1", "|u1", "<u2", "<i4", ">f4", ">i2", ">f8"]:
    for fortran in (False, True):
        for layout in ("leadsBySamples", "samplesByLeads"):
            shape = (12, 501) if layout == "leadsBySamples" else (501, 12)
            if dtype[1] == "f":
                arr = rng.normal(0, 2, shape).astype(dtype)
                arr.flat[5] = np.nan
            else:
                info = np.iinfo(np.dtype(dtype))
                arr = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
            if fortran:
                arr = np.asfortranarray(arr)
            name = f"{dtype[1:]}{'be' if dtype[0] == '>' else ''}_{'F' if fortran else 'C'}_{layout}"
            case(name, arr, layout, unit="uV" if dtype == "<i2" else "mV")
arr = rng.normal(0, 1, (3, 100)).astype("<f8")
case("v2", arr, "leadsBySamples", version=(2, 0))
case("v3", arr, "leadsBySamples", unit="V", version=(3, 0))
json.dump(manifest, open(f"{out}/manifest.json", "w"))
"""#, arguments: [dir.path])
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        #expect(entries.count == 42)
        for entry in entries {
            let names = (0..<entry.leads).map { "L\($0)" }
            let options = ReadOptions(npy: NPYOptions(
                samplingRateHz: 500, unit: entry.unit, layout: SampleLayout(rawValue: entry.layout)!, leadNames: names))
            let url = dir.appendingPathComponent(entry.name + ".npy")
            let recording = try RecordingReader.read(url, options: options)
            #expect(recording.sampleCount == entry.samples && recording.channels.map(\.name) == names, "\(entry.name)")
            #expect(recording.channels.allSatisfy { $0.unit == entry.unit })
            let reference = try Files.float32LE(dir.appendingPathComponent(entry.name + ".ref"))
            for (lead, channel) in recording.channels.enumerated() {
                let expected = Array(reference[lead * entry.samples ..< (lead + 1) * entry.samples])
                #expect(firstMismatch(channel.samples, expected) == nil, "\(entry.name) lead \(lead)")
            }
            let info = try RecordingReader.info(url, options: options)
            #expect(info.npy?.fortranOrder == entry.name.contains("_F_"))
            #expect(info.sampleCount == entry.samples && info.samplingRateHz == 500)
        }
        // NaN survives (the scoring pipeline rejects it with the lead and sample).
        let f4 = try RecordingReader.read(dir.appendingPathComponent("f4_C_leadsBySamples.npy"),
                                          options: ReadOptions(npy: NPYOptions(samplingRateHz: 500)))
        #expect(f4.channels[0].samples[5].isNaN)
        #expect(f4.channels.map(\.name) == NPYOptions.standardLeadNames)
        try? FileManager.default.removeItem(at: dir)
    }

    /// A minimal version-1.0 file: magic, version, header length, header text, data.
    private func npy(_ header: String, data: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let text = Array(header.utf8)
        bytes += [UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text + data
        return bytes
    }

    private func write(_ bytes: [UInt8]) throws -> URL {
        let url = try TestEnvironment.makeTemporaryDirectory("ventriq-npy-bad").appendingPathComponent("x.npy")
        try Files.write(bytes, to: url)
        return url
    }

    private let rate = ReadOptions(npy: NPYOptions(samplingRateHz: 500, leadNames: ["I", "II"]))

    @Test func handWrittenHeaderReads() throws {
        let url = try write(npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }\n",
                                data: Files.int16LE([1, 2, 3, -4, -5, -6])))
        let recording = try RecordingReader.read(url, options: rate)
        #expect(recording.channels.map(\.samples) == [[1, 2, 3], [-4, -5, -6]])
        let transposed = ReadOptions(npy: NPYOptions(samplingRateHz: 500, layout: .samplesByLeads,
                                                     leadNames: ["a", "b", "c"]))
        #expect(try RecordingReader.read(url, options: transposed).channels.map(\.samples) == [[1, -4], [2, -5], [3, -6]])
    }

    @Test func badMagicIsRejectedAtByteZero() throws {
        let url = try write(Array("hello, not numpy".utf8))
        let error = recordingError { _ = try RecordingReader.read(url, options: rate) }
        guard case .invalidHeader(let path, 0, let expected, _) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(path == url.path && expected.contains("NPY magic"))
        #expect(error!.description.hasPrefix("\(url.path): byte offset 0: expected the NPY magic"))
        let empty = try write([])
        #expect(recordingError { _ = try RecordingReader.read(empty, options: rate) }
            == .invalidHeader(path: empty.path, byteOffset: 0, expected: "the NPY magic \\x93NUMPY", found: "an empty file"))
    }

    @Test func truncatedDataGivesTheByteOffset() throws {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }\n"
        let bytes = npy(header, data: [UInt8](repeating: 0, count: 29))
        let url = try write(bytes)
        let error = recordingError { _ = try RecordingReader.read(url, options: rate) }
        let dataStart = 10 + header.utf8.count
        guard case .truncated(let path, let offset, let start, let expected, _) = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(path == url.path && offset == dataStart + 29 && start == dataStart && expected == 32)
        #expect(error!.description.contains("data ends at byte offset \(dataStart + 29)"))
        // A header cut short.
        let cut = try write(Array(npy(header, data: []).prefix(30)))
        guard case .truncated(_, 30, 10, header.utf8.count, _) = recordingError({ _ = try RecordingReader.read(cut, options: rate) }) else {
            Issue.record("expected a truncated header")
            return
        }
    }

    @Test func corruptHeadersAreRejectedWithOffsets() throws {
        let version = try write(npy("{}", data: [], version: 4))
        #expect(recordingError { _ = try RecordingReader.read(version, options: rate) }
            == .invalidHeader(path: version.path, byteOffset: 6, expected: "NPY format version 1, 2 or 3", found: "version 4.0"))
        let notDict = try write(npy("descr", data: []))
        guard case .invalidHeader(_, 10, _, _) = recordingError({ _ = try RecordingReader.read(notDict, options: rate) }) else {
            Issue.record("expected an invalid header at byte 10")
            return
        }
        let oneD = try write(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }", data: []))
        let shapeOffset = 10 + "{'descr': '<f4', 'fortran_order': False, 'shape': ".utf8.count
        #expect(recordingError { _ = try RecordingReader.read(oneD, options: rate) }
            == .invalidHeader(path: oneD.path, byteOffset: shapeOffset,
                              expected: "a 2-D shape (leads, samples) or (samples, leads)", found: "(8,)"))
        let complex = try write(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 1), }", data: []))
        #expect(recordingError { _ = try RecordingReader.read(complex, options: rate) }
            == .unsupportedDType(path: complex.path, dtype: "<c8", supported: NPYDType.supported))
        let structured = try write(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 1), }", data: []))
        guard case .unsupportedDType(_, "[('a', '<f4')]", _) = recordingError({ _ = try RecordingReader.read(structured, options: rate) }) else {
            Issue.record("expected an unsupported structured dtype")
            return
        }
    }

    @Test func optionsMustDescribeTheArray() throws {
        let url = try write(npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }\n",
                                data: Files.int16LE([1, 2, 3, 4, 5, 6])))
        let noRate = recordingError { _ = try RecordingReader.read(url) }
        guard case .missingSamplingRate(_, let remedy) = noRate else {
            Issue.record("got \(String(describing: noRate))")
            return
        }
        #expect(remedy.contains("NPYOptions.samplingRateHz"))
        // The default names are the 12 standard leads; this array has 2.
        #expect(recordingError { _ = try RecordingReader.read(url, options: ReadOptions(npy: NPYOptions(samplingRateHz: 500))) }
            == .leadCountMismatch(path: url.path, leadsInFile: 2, namesGiven: 12))
        let adu = ReadOptions(npy: NPYOptions(samplingRateHz: 500, unit: "adu", leadNames: ["I", "II"]))
        #expect(recordingError { _ = try RecordingReader.read(url, options: adu) }
            == .unknownUnit(path: url.path, line: nil, channel: "all leads", unit: "adu"))
    }
}
