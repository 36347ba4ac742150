import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqIO

/// WFDB decoding checked bit for bit against wfdb-python: Python writes records (with
/// `wfdb.wrsamp` for the formats it can write: 16, 24, 32, 80, 212; with its own packing, checked
/// by reading back digital samples with `wfdb.rdrecord`, for 8, 61, 160, 310, 311), reads them
/// with `wfdb.rdrecord(...).p_signal`, converts to mV and dumps float32; we compare every sample.
@Suite struct WFDBReferenceTests {
    struct Entry: Decodable {
        var name: String
        var fs: Double
        var n: Int
        var sig_name: [String?]
        var units: [String]
    }

    @Test func everyFormatAndHeaderFeatureMatchesWFDBPython() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-wfdb")
        let run = try TestEnvironment.runPython(Self.generator, arguments: [dir.path])
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        #expect(entries.count == Int(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Every format code the reader supports is covered.
        let covered = Set(entries.compactMap { $0.name.hasPrefix("fmt") ? Int($0.name.dropFirst(3)) : nil })
        #expect(covered == Set(WFDBFormat.supportedCodes))

        for entry in entries {
            let header = dir.appendingPathComponent(entry.name + ".hea")
            let recording = try RecordingReader.read(header, options: ReadOptions(verifyChecksums: true))
            try compare(recording, entry, reference: dir.appendingPathComponent(entry.name + ".ref"))
        }
        try? FileManager.default.removeItem(at: dir)
    }

    @Test func exampleRecordingsMatchWFDBPython() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-examples")
        try TestEnvironment.runPython(Self.examples, arguments: [TestEnvironment.recordingsDirectory.path, dir.path])
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        #expect(entries.count == 5)
        for entry in entries {
            let header = TestEnvironment.recordingsDirectory.appendingPathComponent(entry.name + ".hea")
            let recording = try RecordingReader.read(header)
            #expect(recording.channels.map(\.name) == NPYOptions.standardLeadNames)
            #expect(recording.sampleCount == 5000 && recording.samplingRateHz == 500)
            try compare(recording, entry, reference: dir.appendingPathComponent(entry.name + ".ref"))
        }
        try? FileManager.default.removeItem(at: dir)
    }

    private func compare(_ recording: Recording, _ entry: Entry, reference: URL) throws {
        #expect(recording.name == entry.name)
        #expect(recording.samplingRateHz == entry.fs, "\(entry.name)")
        #expect(recording.sampleCount == entry.n, "\(entry.name)")
        #expect(recording.channels.count == entry.units.count, "\(entry.name)")
        let flat = try Files.float32LE(reference)
        for (c, channel) in recording.channels.enumerated() where c < entry.units.count {
            #expect(channel.name == (entry.sig_name[c] ?? "signal \(c)"), "\(entry.name)")
            #expect(channel.unit.lowercased() == entry.units[c].lowercased(), "\(entry.name) \(channel.name)")
            let expected = Array(flat[c * entry.n ..< (c + 1) * entry.n])
            let mismatch = firstMismatch(channel.samples, expected)
            #expect(mismatch == nil, """
                \(entry.name) channel \(c) (\(channel.name)): sample \(mismatch ?? -1) is \
                \(mismatch.map { channel.samples.indices.contains($0) ? "\(channel.samples[$0])" : "missing" } ?? ""), \
                wfdb-python gives \(mismatch.map { expected.indices.contains($0) ? "\(expected[$0])" : "missing" } ?? "")
                """)
        }
    }

    /// The reference for the committed example recordings.
    static let examples = #"""
import glob, json, os, sys
import numpy as np
import wfdb
src, out = sys.argv[1], sys.argv[2]
manifest = []
for hea in sorted(glob.glob(os.path.join(src, "*.hea"))):
    name = os.path.basename(hea)[:-4]
    rec = wfdb.rdrecord(hea[:-4])
    assert all(u == "mV" for u in rec.units)
    rec.p_signal.T.astype("<f4").tofile(os.path.join(out, name + ".ref"))
    manifest.append({"name": name, "fs": float(rec.fs), "n": int(rec.sig_len),
                     "sig_name": list(rec.sig_name), "units": list(rec.units)})
json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
"""#

    /// Writes the test records into argv[1] with their references and a manifest.
    static let generator = #"""
import json, os, sys
import numpy as np
import wfdb
from wfdb.io import _signal

out = sys.argv[1]
os.chdir(out)
rng = np.random.default_rng(20240611)
manifest = []

def to_mv(p, unit):
    u = unit.lower()
    if u == "mv": return p.astype(np.float32)
    if u in ("uv", "µv"): return (p / 1000.0).astype(np.float32)
    if u == "v": return (p * 1000.0).astype(np.float32)
    raise ValueError(unit)

def reference(name, check_digital=None):
    rec = wfdb.rdrecord(name)
    if check_digital is not None:
        d = wfdb.rdrecord(name, physical=False).d_signal
        assert np.array_equal(d.astype(np.int64), check_digital.astype(np.int64)), name
    p = rec.p_signal
    chans = np.stack([to_mv(p[:, c], rec.units[c]) for c in range(rec.n_sig)]) if rec.n_sig else np.zeros((0, 0), np.float32)
    chans.astype("<f4").tofile(name + ".ref")
    manifest.append({"name": name, "fs": float(rec.fs), "n": int(rec.sig_len),
                     "sig_name": list(rec.sig_name), "units": list(rec.units)})

def digital(fmt, n, nch):
    if fmt == "8":
        steps = rng.integers(-128, 128, size=(n, nch))
        start = rng.integers(-3000, 3000, size=nch)
        return (start + np.cumsum(steps, axis=0)).astype(np.int64)
    lo, hi = _signal.SAMPLE_VALUE_RANGE[fmt]
    d = rng.integers(lo, hi, size=(n, nch), endpoint=True, dtype=np.int64)
    for c in range(nch):  # the extremes, the low one being the invalid-sample value
        if n > 2 * c + 1:
            d[2 * c, c] = lo
            d[2 * c + 1, c] = hi
    return d

def encode(fmt, flat, n_flat):
    """Bytes of a file holding the flat (interleaved) samples, packed as WFDB documents."""
    v = np.asarray(flat, dtype=np.int64)
    if fmt == "16": return v.astype("<i2").tobytes()
    if fmt == "61": return v.astype(">i2").tobytes()
    if fmt == "80": return (v + 128).astype("u1").tobytes()
    if fmt == "160": return (v + 32768).astype("<u2").tobytes()
    if fmt == "24": return b"".join(int(x & 0xFFFFFF).to_bytes(3, "little") for x in v)
    if fmt == "32": return v.astype("<i4").tobytes()
    if fmt == "8": return v.astype("i1").tobytes()
    if fmt == "212":
        s = np.concatenate([v, np.zeros(len(v) % 2, np.int64)]) & 0xFFF
        s0, s1 = s[0::2], s[1::2]
        b = np.stack([s0 & 0xFF, (s0 >> 8) | ((s1 >> 8) << 4), s1 & 0xFF], axis=1).reshape(-1)
        return b.astype("u1").tobytes()[: (3 * n_flat + 1) // 2]
    if fmt in ("310", "311"):
        s = np.concatenate([v, np.zeros((-len(v)) % 3, np.int64)]) & 0x3FF
        s0, s1, s2 = s[0::3], s[1::3], s[2::3]
        if fmt == "310":
            w0 = (s0 << 1) | ((s2 & 0x1F) << 11)
            w1 = (s1 << 1) | ((s2 >> 5) << 11)
            b = np.stack([w0, w1], axis=1).reshape(-1).astype("<u2").tobytes()
            keep = 4 * (n_flat // 3) + [0, 2, 4][n_flat % 3]
        else:
            w = s0 | (s1 << 10) | (s2 << 20)
            b = w.astype("<u4").tobytes()
            keep = 4 * (n_flat // 3) + [0, 2, 3][n_flat % 3]
        return b[:keep]
    raise ValueError(fmt)

def write_custom(name, d, fmt, files, record_extra="", gains=None, baselines=None, units=None,
                 names=None, spf=None, offsets=None, skews=None, init=None, header_len=True, checksums=True):
    """Header text and signal files written here; `d` holds each channel's samples (n*spf)."""
    nch = len(d)
    spf = spf or [1] * nch
    n = len(d[0]) // spf[0]
    offsets = offsets or {}
    lines = [f"{name} {nch} 500{record_extra}" + (f" {n}" if header_len else "")]
    byfile = {}
    for c in range(nch):
        byfile.setdefault(files[c], []).append(c)
    for fname, chans in byfile.items():
        width = sum(spf[c] for c in chans)
        flat = np.zeros(n * width, np.int64)
        col = 0
        for c in chans:
            vals = np.asarray(d[c], np.int64)
            if fmt == "8":
                start = init[c]
                vals = np.diff(np.concatenate([[start], vals]))
            for k in range(spf[c]):
                flat[col + k::width] = vals[k::spf[c]]
            col += spf[c]
        data = encode(fmt, flat, len(flat))
        with open(fname, "wb") as f:
            f.write(b"\x55" * offsets.get(fname, 0) + data)
    for c in range(nch):
        fmtfield = fmt + (f"x{spf[c]}" if spf[c] > 1 else "") + (f":{skews[c]}" if skews and skews[c] else "") \
            + (f"+{offsets[files[c]]}" if offsets.get(files[c]) else "")
        iv = init[c] if init else int(d[c][0])
        cs = int(np.sum(np.asarray(d[c], np.int64)) % 65536)
        lines.append(f"{files[c]} {fmtfield} {gains[c]}({baselines[c]})/{units[c]} 12 0 {iv} "
                     + (f"{cs} 0 " if checksums else "") + f"{names[c]}")
    with open(name + ".hea", "w") as f:
        f.write("\n".join(lines) + "\n# written by the Ventriq test\n")

GAINS = [200.0, 1000.5, 3.3, 65.536, 12.75, 0.125]
BASELINES = [0, -12, 7, 1000, -300, 5]
UNITS = ["mV", "uV", "mV", "uV", "mV", "uV"]
NAMES = ["I", "II", "III", "V1", "V2", "V6"]
BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12, "310": 10, "311": 10}
WRITABLE = ["16", "24", "32", "80", "212"]
ALL = ["8", "16", "24", "32", "61", "80", "160", "212", "310", "311"]

# Every format: 6 signals in 3 files (3, 1 and 2 signals), 1001 samples (odd; 3003, 1001, 2002
# samples per file cover every partial 212/310/311 block).
for fmt in ALL:
    n = 1001
    name = "fmt" + fmt
    files = [f"{name}_a.dat"] * 3 + [f"{name}_b.dat"] + [f"{name}_c.dat"] * 2
    d = digital(fmt, n, 6)
    if fmt in WRITABLE:
        rec = wfdb.Record(record_name=name, n_sig=6, fs=500, sig_len=n, file_name=files, fmt=[fmt] * 6,
                          adc_gain=GAINS, baseline=BASELINES, units=UNITS, sig_name=NAMES,
                          d_signal=d.astype(np.int32), adc_res=[BITS[fmt]] * 6, adc_zero=[0] * 6, block_size=[0] * 6)
        rec.set_d_features(do_adc=False)
        rec.wrsamp()
        reference(name, check_digital=d)
    else:
        init = [int(d[0, c]) - 5 for c in range(6)] if fmt == "8" else None
        write_custom(name, [d[:, c] for c in range(6)], fmt, files, gains=GAINS, baselines=BASELINES,
                     units=UNITS, names=NAMES, init=init)
        reference(name, check_digital=d)

# Short single-file records for the packed formats: every residue of the block size.
for fmt in ["212", "310", "311", "24"]:
    for n in range(1, 7):
        for nch in (1, 2):
            name = f"short{fmt}_{n}x{nch}"
            d = digital(fmt, n, nch)
            write_custom(name, [d[:, c] for c in range(nch)], fmt, [name + ".dat"] * nch, gains=GAINS,
                         baselines=BASELINES, units=UNITS, names=NAMES)
            reference(name, check_digital=d)

# Byte offsets (per file), format 16 and 212.
for fmt in ["16", "212"]:
    name = "offset" + fmt
    d = digital(fmt, 301, 3)
    files = [name + "_a.dat", name + "_a.dat", name + "_b.dat"]
    write_custom(name, [d[:, c] for c in range(3)], fmt, files, gains=GAINS, baselines=BASELINES,
                 units=UNITS, names=NAMES, offsets={files[0]: 7, files[2]: 3})
    reference(name, check_digital=d)

# Skew: signals 1 and 2 delayed by 2 frames (their last 2 frames are NaN). wfdb-python cannot
# read records whose non-zero skews differ (a broadcast error in _skew_sig).
name = "skew16"
d = digital("16", 200, 3)
write_custom(name, [d[:, c] for c in range(3)], "16", [name + ".dat"] * 3, gains=GAINS, baselines=BASELINES,
             units=UNITS, names=NAMES, skews=[0, 2, 2])
reference(name)

# Samples per frame 2, 1, 3 in one file (wfdb-python averages each frame).
name = "spf16"
n = 250
chans = [digital("16", n * s, 1)[:, 0] for s in (2, 1, 3)]
write_custom(name, chans, "16", [name + ".dat"] * 3, gains=GAINS, baselines=BASELINES, units=UNITS,
             names=NAMES, spf=[2, 1, 3])
reference(name)

# No sample count on the record line: inferred from the first signal file's size.
name = "nolen212"
d = digital("212", 1001, 3)
write_custom(name, [d[:, c] for c in range(3)], "212", [name + ".dat"] * 3, gains=GAINS, baselines=BASELINES,
             units=UNITS, names=NAMES, header_len=False)
reference(name, check_digital=d)

# Header defaults and units: no gain (200), gain 0 (200), baseline from ADC zero, volts, unit
# case (MV, uv), no description; fs absent (250) and no length. (µV is checked in Swift only:
# wfdb-python decodes headers as ASCII dropping other bytes, so it reads "µV" as "V".)
name = "defaults"
d = digital("16", 100, 5)
flat = d.reshape(-1)
with open(name + ".dat", "wb") as f:
    f.write(encode("16", flat, len(flat)))
with open(name + ".hea", "w") as f:
    f.write("\n".join([
        "# a comment before the record line",
        f"{name} 5",
        f"{name}.dat 16",
        f"{name}.dat 16 0/uV 12 5",
        f"{name}.dat 16 1e3/V 16 0 0 {int(d[:, 2].sum()) % 65536 - 65536} 0 lead with spaces",  # signed checksum
        f"{name}.dat 16 350(-3)/MV 16 0",
        f"{name}.dat 16 2000(4)/uv",
    ]) + "\n")
reference(name, check_digital=d)

json.dump(manifest, open("manifest.json", "w"))
print(len(manifest))
"""#
}
