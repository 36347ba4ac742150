import ArgumentParser
import CVentriqAllocationCounter
import Dispatch
import Foundation
import Ventriq
import VentriqProfiles
import VentriqStream

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Score a live stream window by window: ALSA capture, a file descriptor, stdin, or a replayed recording.",
        discussion: """
            Windows of the model's length every hop of the profile; one JSON line per window \
            (scored, gated by lead quality, or dropped with its reason: backlog, xrun, source_gap, \
            invalid_samples), and on SIGINT/SIGTERM or at the end of the source a summary line \
            (windows, drops by reason, xruns, latency p50/p99/max against the budget, RSS). \
            SOURCE: alsa:NAME | fd:N | stdin | replay:PATH[@SPEEDx] (SPEED a number, or max for as \
            fast as the scorer goes, which drops nothing). Default: the profile's source.
            """
    )

    @Option(name: .long, help: "Firmware profile (firmware-profiles/*.toml).")
    var profile: String

    @Option(name: .long, help: "alsa:NAME | fd:N | stdin | replay:PATH[@SPEEDx]")
    var source: String?

    @Option(name: .long, help: "Append the JSON lines to FILE instead of the profile's sinks.")
    var output: String?

    @Option(name: .long, help: "Replay: play the recording N times back to back (soak runs).")
    var `repeat`: Int = 1

    @Option(name: .long, help: "Kernels: auto, reference, avx2, avx512, avx512_vnni, avx_vnni, neon or neon_dotprod.")
    var kernels: KernelChoice = .automatic

    @Flag(name: .long, help: "Count heap allocations on the scoring thread after the first 10 windows and report them per window on stderr (benchmarks).")
    var countAllocations = false

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var reading: ReadingOptions
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        let profileURL = URL(fileURLWithPath: profile)
        var loaded: FirmwareProfile
        do { loaded = try FirmwareProfile.load(contentsOf: profileURL) } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        let model: Model
        do { model = try modelOptions.load() } catch let e as ValidationError { throw e } catch {
            diagnose("error: cannot load model: \(error)")
            throw ExitCode(1)
        }
        let sampleSource: SampleSource
        do {
            (sampleSource, loaded) = try makeSource(loaded)
        } catch let e as ValidationError { throw e } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        let issues = loaded.validate(against: model.config, arenaBytes: nil)
        for issue in issues where issue.severity != .info { diagnose("\(profile): \(issue)") }
        if issues.hasErrors { throw ExitCode(1) }

        let descriptor = try outputDescriptor(loaded)
        defer { if descriptor != 1 { close(descriptor) } }
        let settings = StreamSettings(
            hopSeconds: loaded.window.hopSeconds, ringSeconds: loaded.budgets.ringSeconds, qualityGate: loaded.quality.gate,
            thresholds: loaded.effectiveThresholds(for: model.config), latencyBudgetMilliseconds: loaded.budgets.latencyMilliseconds ?? 0)
        let runner: StreamRunner
        do { runner = try StreamRunner(model: model, source: sampleSource, settings: settings, output: descriptor,
                                       kernels: kernels, threads: threading.threads) } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        // SIGINT / SIGTERM end the stream cleanly: pending windows, then the summary line.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let handlers = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { runner.stop() }
            s.resume()
            return s
        }
        defer { handlers.forEach { $0.cancel() } }
        var windows = 0
        if countAllocations {
            runner.onWindow = { _, _ in
                windows += 1
                if windows == 10 { vq_allocation_counter_start() }
            }
        }
        let summary: StreamSummary
        do { summary = try runner.run() } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        if countAllocations {
            vq_allocation_counter_stop()
            let counted = max(windows - 10, 0)
            let allocations = counted > 0 ? vq_allocation_counter_allocations() : 0
            diagnose("ventriq stream: \(allocations) heap allocations on the scoring thread over \(counted) windows after start-up "
                     + "(\(counted > 0 ? String(format: "%.3f", Double(allocations) / Double(counted)) : "-") per window); "
                     + "\(summary.windowsScored) scored, RSS \(summary.rssStartBytes.map { "\($0 / 1024) KiB" } ?? "- (under 10 windows)") -> \(summary.rssEndBytes / 1024) KiB")
        }
    }

    /// The source named by --source, or the profile's; the profile resolved for replay.
    private func makeSource(_ profile: FirmwareProfile) throws -> (SampleSource, FirmwareProfile) {
        let spec = source ?? profile.source.kind.rawValue
        let rate = profile.source.sampleRateHz ?? 0
        func fdSource(_ fd: Int32, _ name: String) throws -> SampleSource {
            guard let format = profile.source.format.flatMap({ FileDescriptorSource.Format(rawValue: $0.rawValue) }) else {
                throw ValidationError("\(self.profile): a file-descriptor source needs [source] format")
            }
            return try FileDescriptorSource(descriptor: fd, name: name, format: format, channelNames: profile.channelNames,
                                            sampleRateHz: rate, gainMicrovoltsPerLSB: profile.source.gainMicrovoltsPerLSB)
        }
        if spec == "stdin" { return (try fdSource(0, "stdin"), profile) }
        if spec.hasPrefix("fd:") {
            guard let fd = Int32(spec.dropFirst(3)), fd >= 0 else { throw ValidationError("--source \(spec): expected fd:N with N a descriptor number") }
            return (try fdSource(fd, spec), profile)
        }
        if spec.hasPrefix("replay:") {
            var path = String(spec.dropFirst("replay:".count))
            var speed: Double? = 1
            if let at = path.lastIndex(of: "@") {
                let text = path[path.index(after: at)...].lowercased()
                path = String(path[..<at])
                if text == "max" || text == "maxx" { speed = nil } else {
                    guard let v = Double(text.hasSuffix("x") ? String(text.dropLast()) : text), v > 0 else {
                        throw ValidationError("--source \(spec): speed must be a positive number or max (e.g. @1x, @10x, @max)")
                    }
                    speed = v
                }
            }
            let recording = try RecordingReader.read(URL(fileURLWithPath: path), options: reading.readOptions())
            let names = profile.channelLeads
            let resolved = profile.resolvedForReplay(sampleRateHz: recording.samplingRateHz,
                                                     channelNames: names ?? recording.channels.map(\.name))
            return (try ReplaySource(recording: recording, speed: speed, channelNames: names, repeatCount: `repeat`), resolved)
        }
        if spec.hasPrefix("alsa:") || spec == "alsa" {
            let device = spec.hasPrefix("alsa:") ? String(spec.dropFirst(5)) : (profile.source.device ?? "")
            return (try makeAlsaSource(device: device, profile: profile), profile)
        }
        if spec == "replay" { throw ValidationError("the profile replays a recording: give --source replay:PATH[@SPEEDx]") }
        if spec == "fd" { throw ValidationError("the profile reads a file descriptor: give --source fd:N or --source stdin") }
        throw ValidationError("--source \(spec): expected alsa:NAME, fd:N, stdin or replay:PATH[@SPEEDx]")
    }

    private func outputDescriptor(_ profile: FirmwareProfile) throws -> Int32 {
        var path = output
        if path == nil, let sink = profile.output.sinks.first, case .file(let p) = sink { path = p }
        guard let path else { return 1 }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            diagnose("error: cannot open \(path) for appending: \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        return fd
    }
}

extension StreamCommand {
    /// ALSA capture with the profile's channel count, rate, format, gain and period/buffer sizes.
    func makeAlsaSource(device: String, profile: FirmwareProfile) throws -> SampleSource {
        guard !device.isEmpty else { throw ValidationError("no ALSA device: give --source alsa:NAME or [source] device in \(self.profile)") }
        guard let rate = profile.source.sampleRateHz, let format = profile.source.format,
              let alsaFormat = AlsaSampleFormat(rawValue: format.rawValue), let gain = profile.source.gainMicrovoltsPerLSB else {
            throw ValidationError("\(self.profile): an ALSA source needs [source] sample_rate_hz, format (S16_LE or S32_LE) and gain_uv_per_lsb")
        }
        return try AlsaCaptureSource(device: device, channelNames: profile.channelNames, sampleRateHz: Int(rate), format: alsaFormat,
                                     gainMicrovoltsPerLSB: gain, periodFrames: profile.effectivePeriodFrames,
                                     bufferFrames: profile.effectiveBufferFrames)
    }
}
