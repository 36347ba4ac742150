// ventriq-embed: a program that embeds the Ventriq runtime, as a monitoring daemon or an ECG
// cart's firmware would. Copy it and replace the input and output with your own.
//
//     ventriq-embed MODEL TRUSTED_KEYS_DIR RECORD   score a recording (WFDB .hea, .csv or .npy)
//     ventriq-embed MODEL TRUSTED_KEYS_DIR -        score raw int16 frames read from standard input
//
// It links only the `Ventriq` library: no argument parser, no logging framework, no metrics.
// What it does, in the order a daemon does it:
//   1. loads the trusted public keys and the model, and refuses a model that is not signed by one
//      of them or was changed since (`SignaturePolicy.require`);
//   2. builds a `Scorer`: the engine plans and allocates its arena once, here; scoring a window
//      allocates nothing afterwards;
//   3. scores consecutive, non-overlapping windows of the model's length (5 s) and writes one
//      JSON line per window to standard output: LVEF, RVEF and cardiac output with the model's
//      80 % and 95 % intervals, the six disease probabilities, the flags and each lead's quality;
//      for a RECORD, then one line for the whole recording, exactly what `ventriq score --format
//      jsonl` writes for it (the mean of the windows' outputs);
//   4. reports on standard error its peak resident memory (VmHWM) against the memory budget
//      model file + arena + 8 MiB (benchmarks/README.md, "Memory of an embedding process").
//
// Standard input ("-") carries what an acquisition front end delivers: frames of the model's 12
// leads in its lead order (I, II, III, aVR, aVL, aVF, V1-V6), interleaved, int16 little-endian,
// at the model's rate (500 Hz), 1 uV per unit (`adcUnitsPerMillivolt`). The bundled recordings'
// .dat files are in exactly that format:
//
//     ventriq-embed models/ventriq-compact-int8.safetensors keys/trusted - < examples/recordings/anterior_mi_00190.dat
//
// Exit status: 0 when everything was scored, 1 when a file or the input is bad (the message on
// standard error names it), 2 for a usage error.

import Foundation  // URL: the model and key loaders take file URLs
import Ventriq

/// Digital units per millivolt of the raw frames on standard input (1000: 1 uV per unit).
let adcUnitsPerMillivolt = 1000.0
/// The memory budget's headroom above the model file and the arena: the process itself (Swift
/// runtime, libc, stacks, this program's buffers) must fit in it.
let headroomBytes = 8 << 20

/// Writes to standard error (file descriptor 2) directly.
func writeError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func usage() -> Never {
    writeError("""
        usage: ventriq-embed MODEL TRUSTED_KEYS_DIR RECORD
               ventriq-embed MODEL TRUSTED_KEYS_DIR -    (raw int16 frames on standard input)

        """)
    exit(2)
}

/// Reports a bad file or input (the message names it) and exits with status 1.
func fail(_ message: String) -> Never {
    writeError("ventriq-embed: error: \(message)\n")
    exit(1)
}

/// A window's line: the estimates and risks `Scorer.windowResult` derives from the engine's
/// outputs (the code `ventriq score` uses for a whole recording) and each lead's quality.
struct WindowLine: Encodable {
    var window: Int
    var startSeconds: Double
    var endSeconds: Double
    var estimates: [ScoreResult.Estimate]
    var risks: [ScoreResult.Risk]
    var flags: [String]
    /// Lead name -> "ok", "flat", "saturated" or "noisy".
    var quality: [String: String]

    enum CodingKeys: String, CodingKey {
        case window, startSeconds = "start_s", endSeconds = "end_s", estimates, risks, flags, quality
    }
}

/// "1.23 MiB".
func mebibytes(_ bytes: Int) -> String {
    let hundredths = (bytes * 100 + (1 << 19)) >> 20
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100) MiB"
}

func main() {
    let arguments = CommandLine.arguments
    guard arguments.count == 4, !arguments[1].isEmpty, !arguments[2].isEmpty, !arguments[3].isEmpty else { usage() }
    let modelPath = arguments[1], keysPath = arguments[2], input = arguments[3]

    // 1. The trusted keys, then the model. Errors name the file or directory and the problem.
    let keys: TrustedKeys
    do { keys = try TrustedKeys.load(directory: URL(fileURLWithPath: keysPath)) } catch { fail("\(error)") }
    let model: Model
    do {
        model = try Model(contentsOf: URL(fileURLWithPath: modelPath), signatures: .require(keys))
    } catch ModelSignatureError.unsigned(let file) {
        // The library's message suggests the command line's --allow-unsigned, which this has not.
        fail("cannot load model: \(file): the model is not signed; ventriq-embed runs only models signed by a key in "
            + "\(keysPath) (sign it with `ventriq-quantize --sign KEY`)")
    } catch {
        fail("cannot load model: \(error)")
    }

    // 2. The scorer, one per thread (`threads: N` would split each window over N threads).
    let scorer: Scorer
    do { scorer = try Scorer(model: model) } catch { fail("\(modelPath): \(error)") }
    let architecture = model.config.architecture
    let leadCount = architecture.leads.count, windowSamples = architecture.windowSamples

    // 3. One JSON line per window, written while the window's outputs are valid.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    func emitWindow(_ index: Int, _ outputs: InterpreterOutputs) throws {
        let (estimates, risks) = scorer.windowResult(outputs)
        let line = WindowLine(
            window: index,
            startSeconds: Double(index * windowSamples) / architecture.fsHz,
            endSeconds: Double((index + 1) * windowSamples) / architecture.fsHz,
            estimates: estimates, risks: risks, flags: risks.filter(\.flagged).map(\.name),
            quality: Dictionary(uniqueKeysWithValues: zip(architecture.leads, scorer.lastQuality.map(\.status.rawValue))))
        print(String(decoding: try encoder.encode(line), as: UTF8.self))
    }

    if input != "-" {
        // A recording file: the reader maps its channels to the model's leads by name; `score`
        // resamples, cuts the windows, scores them (calling back after each) and averages.
        do {
            let recording = try RecordingReader.read(URL(fileURLWithPath: input))
            let result = try scorer.score(recording) { index, outputs in try emitWindow(index, outputs) }
            print(try ResultWriter(format: .jsonl).line(result))
        } catch {
            fail("\(error)")
        }
    } else {
        // Raw frames: read one window at a time into a fixed buffer, convert it to millivolts in
        // the model's lead-major layout and score it in place. Nothing here allocates per window
        // but the printed line (a daemon with an allocation budget formats into a fixed buffer).
        let frameBytes = leadCount * MemoryLayout<Int16>.size
        let windowBytes = windowSamples * frameBytes
        let frames = UnsafeMutableBufferPointer<Int16>.allocate(capacity: windowSamples * leadCount)
        let window = UnsafeMutableBufferPointer<Float>.allocate(capacity: leadCount * windowSamples)
        defer { frames.deallocate(); window.deallocate() }
        let bytes = UnsafeMutableRawPointer(frames.baseAddress!)
        var windows = 0, leftoverBytes = 0
        while true {
            // Fill the buffer with one window, or stop at the end of the input.
            var filled = 0
            while filled < windowBytes {
                let n = read(0, bytes + filled, windowBytes - filled)
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    fail("standard input: read failed after \(windows * windowBytes + filled) bytes: \(String(cString: strerror(errno)))")
                }
                filled += n
            }
            if filled < windowBytes { leftoverBytes = filled; break }
            for frame in 0..<windowSamples {
                for lead in 0..<leadCount {
                    // Double, then one rounding to Float: the WFDB reader's conversion, bit for bit.
                    let digital = Double(Int16(littleEndian: frames[frame * leadCount + lead]))
                    window[lead * windowSamples + frame] = Float(digital / adcUnitsPerMillivolt)
                }
            }
            do {
                try scorer.scoreWindow(UnsafeBufferPointer(window))
                try scorer.interpreter.withOutputs { try emitWindow(windows, $0) }
            } catch {
                fail("standard input: window \(windows): \(error)")
            }
            windows += 1
        }
        let leftoverFrames = leftoverBytes / frameBytes
        if windows == 0 {
            fail("standard input: \(leftoverBytes) bytes (\(leftoverFrames) frames) is less than one window: the model needs "
                + "\(windowSamples) frames of \(leadCount) int16 leads (\(windowBytes) bytes, \(Double(windowSamples) / architecture.fsHz) s "
                + "at \(architecture.fsHz) Hz)")
        }
        if leftoverBytes > 0 {
            let partial = leftoverBytes % frameBytes
            writeError("ventriq-embed: standard input: the last \(leftoverFrames) frames\(partial == 0 ? "" : " and \(partial) bytes") "
                + "do not fill a window and were not scored\n")
        }
    }

    fflush(nil)  // the JSON lines before the report, when both go to one terminal

    // 4. Peak resident memory against the budget: the memory-mapped model file, the arena
    // (weights packed for the kernels, and the activations) and the headroom.
    let peak = ProcessMemory.peakResidentBytes()
    let arenaBytes = scorer.interpreter.memory?.arenaBytes ?? 0
    let fileBytes = model.file.fileSize
    let budget = fileBytes + arenaBytes + headroomBytes
    let verdict = peak == 0 ? "not measured (no /proc/self/status)"
        : peak <= budget ? "within budget (\(mebibytes(budget - peak)) to spare)" : "over budget by \(mebibytes(peak - budget))"
    writeError("ventriq-embed: peak RSS \(mebibytes(peak)) (\(peak) bytes); budget \(mebibytes(budget)) (\(budget) bytes) = model file "
        + "\(mebibytes(fileBytes)) + arena \(mebibytes(arenaBytes)) + \(mebibytes(headroomBytes)): \(verdict)\n")
}

main()
