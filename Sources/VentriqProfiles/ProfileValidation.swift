import Foundation
import VentriqModel
import VentriqSignal

extension FirmwareProfile {
    /// The ECG amplitude the input range must cover: ±5 mV (IEC 60601-2-25's differential input
    /// range). A smaller full scale is reported as a warning.
    public static let minimumFullScaleMillivolts = 5.0

    /// Every problem of this profile's values, alone and against the model `config`; `arenaBytes`
    /// (the engine's planned arena, when known) enters the memory budget check. Issues come in
    /// schema order; the profile is usable when none is an `.error`.
    ///
    /// Errors: a rate the model cannot use (the `Resampler` refuses the ratio), a window or hop
    /// that is not a whole number of frames, unknown or duplicate lead names, leads the model
    /// needs that are neither channels nor derivable, `window.seconds` other than the model's, a
    /// hop outside (0, seconds], thresholds for diseases the model lacks or outside [0, 1], a
    /// memory budget below arena + ring, and out-of-range values (channels, gain, ADC bits,
    /// periods, budgets). Warnings: keys the source kind ignores, a latency budget at or above
    /// the hop (results could queue up), a full-scale range below ±5 mV, a ring shorter than
    /// window + hop. Infos: derived leads, ignored channels, the full-scale range, and for an
    /// unresolved replay profile that the rate-dependent checks wait for the recording.
    public func validate(against config: ModelConfig, arenaBytes: Int?) -> [ProfileIssue] {
        var issues: [ProfileIssue] = []
        func fail(_ key: String, _ message: String) { issues.append(ProfileIssue(.error, key, message)) }
        func warn(_ key: String, _ message: String) { issues.append(ProfileIssue(.warning, key, message)) }
        func note(_ key: String, _ message: String) { issues.append(ProfileIssue(.info, key, message)) }

        let modelRate = config.architecture.fsHz
        let modelSeconds = config.window.seconds

        // [device]
        if device.name.trimmingCharacters(in: .whitespaces).isEmpty { fail("device.name", "must not be empty") }

        // [source]
        for key in ignoredKeys {
            warn(key, "not used by \(source.kind.rawValue) sources (ignored)"
                + (source.kind == .replay ? "; a replay takes the recording's rate and channels" : ""))
        }
        if source.kind == .alsa, let format = source.format, !format.isInteger {
            fail("source.format", "ALSA capture supports S16_LE and S32_LE, found \(format.rawValue)")
        }
        if source.kind == .alsa, let name = source.device, name.trimmingCharacters(in: .whitespaces).isEmpty {
            fail("source.device", "must name an ALSA device (e.g. \"hw:1,0\")")
        }
        var rateUsable = false
        if let rate = sampleRateHz {
            if !(rate.isFinite && rate > 0) {
                fail("source.sample_rate_hz", "must be a positive number of Hz, found \(Self.format(rate))")
            } else {
                do {
                    _ = try Resampler(fromHz: rate, toHz: modelRate)
                    rateUsable = true
                } catch {
                    let reason: String
                    if case .unsupportedResampling(_, _, let why) = error { reason = why } else { reason = "\(error)" }
                    fail("source.sample_rate_hz", "the model runs at \(Self.format(modelRate)) Hz and cannot use "
                        + "\(Self.format(rate)) Hz: \(reason)")
                }
            }
        } else if source.kind == .replay {
            note("source", "a replay takes the recording's rate and channels: the rate, lead and memory checks "
                + "run on resolvedForReplay(sampleRateHz:channelNames:)")
        }
        if let channels = source.channels {
            if channels < 1 {
                fail("source.channels", "must be at least 1, found \(channels)")
            } else if let leads = channelLeads, leads.count != channels {
                fail("source.channels", "\(channels) channels, but leads.channels names \(leads.count) "
                    + "(one lead name per channel, in frame order)")
            }
        }
        if let bits = source.adcBits {
            if ![16, 24, 32].contains(bits) {
                fail("source.adc_bits", "must be 16, 24 or 32, found \(bits)")
            } else if let format = source.format, let container = format.integerBits, bits > container {
                fail("source.adc_bits", "\(bits) bits do not fit the \(container)-bit samples of \(format.rawValue)")
            } else if source.format == .floatLE {
                warn("source.adc_bits", "not used with FLOAT_LE samples")
            }
        }
        if let gain = source.gainMicrovoltsPerLSB, !(gain.isFinite && gain > 0) {
            fail("source.gain_uv_per_lsb", "must be a positive number of microvolts, found \(Self.format(gain))")
        }
        if source.format == .floatLE, source.adcBits == nil, source.gainMicrovoltsPerLSB == nil {
            // Floats are millivolts; nothing to report.
        } else if let fullScale = fullScaleMillivolts, fullScale.isFinite, fullScale > 0,
                  let bits = source.adcBits, [16, 24, 32].contains(bits), source.format != .floatLE {
            let range = "±\(Self.format(fullScale, digits: 4)) mV full scale (\(bits)-bit ADC x "
                + "\(Self.format(source.gainMicrovoltsPerLSB!)) uV/LSB)"
            if fullScale < Self.minimumFullScaleMillivolts {
                warn("source.gain_uv_per_lsb", "\(range) is below ±\(Self.format(Self.minimumFullScaleMillivolts)) mV: "
                    + "QRS complexes would saturate")
            } else {
                note("source.gain_uv_per_lsb", range)
            }
        }
        if let period = source.periodFrames, period < 1 {
            fail("source.period_frames", "must be at least 1, found \(period)")
        }
        if let buffer = source.bufferFrames, buffer < 1 {
            fail("source.buffer_frames", "must be at least 1, found \(buffer)")
        } else if source.kind == .alsa, effectivePeriodFrames >= 1, effectiveBufferFrames < 2 * effectivePeriodFrames {
            fail("source.buffer_frames", "\(effectiveBufferFrames) frames hold fewer than two periods of "
                + "\(effectivePeriodFrames) frames")
        }

        // [leads]
        if let leads = channelLeads { validateLeads(leads, modelLeads: config.architecture.leads, into: &issues) }

        // [window]
        let seconds = window.seconds, hop = window.hopSeconds
        let windowUsable = seconds.isFinite && seconds > 0
        if !windowUsable {
            fail("window.seconds", "must be a positive number of seconds, found \(Self.format(seconds))")
        } else if abs(seconds - modelSeconds) > 1e-9 * modelSeconds {
            fail("window.seconds", "\(Self.format(seconds)) s, but the model's window is \(Self.format(modelSeconds)) s "
                + "(\(config.window.samples) samples at \(Self.format(modelRate)) Hz)")
        }
        let hopUsable = hop.isFinite && hop > 0 && (!windowUsable || hop <= seconds)
        if !(hop.isFinite && hop > 0) {
            fail("window.hop_seconds", "must be greater than 0 s, found \(Self.format(hop)) s")
        } else if windowUsable, hop > seconds {
            fail("window.hop_seconds", "\(Self.format(hop)) s exceeds the window (\(Self.format(seconds)) s): "
                + "samples between windows would never be scored")
        }
        if rateUsable, let rate = sampleRateHz {
            for (key, value) in [("window.seconds", seconds), ("window.hop_seconds", hop)] where value.isFinite && value > 0 {
                let frames = value * rate
                if abs(frames - frames.rounded()) > 1e-6 {
                    fail(key, "\(Self.format(value)) s at \(Self.format(rate)) Hz is \(Self.format(frames, digits: 3)) frames, "
                        + "not a whole number")
                }
            }
        }

        // [budgets]
        let ring = budgets.ringSeconds
        if !(ring.isFinite && ring > 0) {
            fail("budgets.ring_seconds", "must be a positive number of seconds, found \(Self.format(ring))")
        } else if windowUsable, ring <= seconds {
            fail("budgets.ring_seconds", "\(Self.format(ring)) s must exceed the window (\(Self.format(seconds)) s)")
        } else if windowUsable, hopUsable, ring < seconds + hop {
            warn("budgets.ring_seconds", "\(Self.format(ring)) s is less than window + hop "
                + "(\(Self.format(seconds + hop)) s): a slow window lets the capture overwrite the next one")
        }
        if let latency = budgets.latencyMilliseconds {
            if !(latency.isFinite && latency > 0) {
                fail("budgets.latency_ms", "must be a positive number of milliseconds, found \(Self.format(latency))")
            } else if hopUsable, latency >= hopMilliseconds {
                warn("budgets.latency_ms", "\(Self.format(latency)) ms is not below the hop "
                    + "(\(Self.format(hopMilliseconds)) ms): results could queue up")
            }
        }
        if let memory = budgets.memoryBytes {
            if memory <= 0 {
                fail("budgets.memory_bytes", "must be a positive number of bytes, found \(memory)")
            } else if rateUsable, ring.isFinite, ring > 0, channelCount > 0 {
                let ringBytes = self.ringBytes
                let need = (arenaBytes ?? 0) + ringBytes
                if memory < need {
                    let ringTerm = "the ring (\(ringBytes) bytes = \(Self.format(ring)) s x \(Self.format(sampleRateHz!)) Hz x "
                        + "\(channelCount) channels x \(Self.ringBytesPerSample) bytes)"
                    let parts = arenaBytes.map { "the arena (\($0) bytes) + \(ringTerm) = \(need) bytes" } ?? ringTerm
                    fail("budgets.memory_bytes", "\(memory) bytes is less than \(parts)")
                }
            }
        }

        // [thresholds]
        for disease in thresholds.keys.sorted() {
            let value = thresholds[disease]!
            if !config.diseases.contains(disease) {
                var message = "the model has no disease \"\(disease)\" (it has \(config.diseases.joined(separator: ", ")))"
                if let hint = Suggestion.closest(to: disease, among: config.diseases) { message += "; did you mean \(hint)?" }
                fail("thresholds.\(disease)", message)
            }
            if !(value >= 0 && value <= 1) {
                fail("thresholds.\(disease)", "\(Self.format(value)) is not a probability in [0, 1]")
            }
        }

        // [output]
        if output.sinks.isEmpty {
            fail("output.sinks", "no sinks: results would go nowhere (use [\"stdout\"])")
        }
        var seen: [FirmwareProfile.Sink] = []
        for (index, sink) in output.sinks.enumerated() {
            if seen.contains(sink) { warn("output.sinks[\(index)]", "\(sink) is listed twice") }
            seen.append(sink)
        }
        return issues
    }

    /// Unknown names, duplicates, missing and derived leads.
    private func validateLeads(_ leads: [String], modelLeads: [String], into issues: inout [ProfileIssue]) {
        let key = "leads.channels"
        let unknown = leads.filter { $0 != Self.unusedChannel && LeadName.canonical($0) == nil }
        if !unknown.isEmpty {
            issues.append(ProfileIssue(.error, key, "unknown lead names \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")) "
                + "(leads: \(LeadName.standard.joined(separator: ", ")), or aliases such as \"lead II\", \"D2\", \"C1\"; "
                + "\"\(Self.unusedChannel)\" marks a channel without a lead)"))
        }
        // Duplicates (two channels naming one lead); later duplicates are left out of the lead map
        // so that missing leads are still reported.
        var firstChannel: [String: Int] = [:]
        var duplicates: [(lead: String, names: [String])] = []
        var mapNames = leads
        for (index, name) in leads.enumerated() {
            guard let lead = LeadName.canonical(name) else { continue }
            if let first = firstChannel[lead] {
                if let k = duplicates.firstIndex(where: { $0.lead == lead }) {
                    duplicates[k].names.append(name)
                } else {
                    duplicates.append((lead, [leads[first], name]))
                }
                mapNames[index] = Self.unusedChannel
            } else {
                firstChannel[lead] = index
            }
        }
        for (lead, names) in duplicates {
            issues.append(ProfileIssue(.error, key, "duplicate lead \(lead): channels "
                + "\(names.map { "\"\($0)\"" }.joined(separator: " and ")) \(names.count == 2 ? "both" : "all") map to it"))
        }
        do {
            let map = try LeadMap(channelNames: mapNames, modelLeads: modelLeads)
            if !map.derivedLeads.isEmpty {
                issues.append(ProfileIssue(.info, key, "leads \(map.derivedLeads.joined(separator: ", ")) are derived from I and II"))
            }
            // Channels naming a lead the model does not read (unknown names are errors above).
            let ignored = map.ignoredChannels.filter { LeadName.canonical($0) != nil }
            if !ignored.isEmpty {
                issues.append(ProfileIssue(.info, key, "channels \(ignored.joined(separator: ", ")) are not used by the model"))
            }
        } catch {
            switch error {
            case .missingLeads(let missing, _):
                issues.append(ProfileIssue(.error, key, "missing leads \(missing.joined(separator: ", ")) that the model needs "
                    + "(channels: \(leads.joined(separator: ", ")); III, aVR, aVL and aVF are derived only when both I and II are channels)"))
            default:
                issues.append(ProfileIssue(.error, key, "\(error)"))
            }
        }
    }

    /// A number for messages: integers without a fraction; others as written (Swift's shortest
    /// round-trip form), or rounded to `digits` decimals with trailing zeros trimmed.
    static func format(_ x: Double, digits: Int? = nil) -> String {
        if x.isFinite, x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        guard x.isFinite, let digits else { return "\(x)" }
        var s = String(format: "%.\(digits)f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
