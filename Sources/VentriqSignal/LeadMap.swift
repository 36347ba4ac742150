/// Which channel of a recording feeds each lead of the model, with the limb leads III, aVR, aVL
/// and aVF derived from I and II when the recording lacks them.
///
/// Derivation (the trainer's `records.limb_leads_from_i_ii`, the same float32 operations as
/// numpy on float32 arrays): `III = II - I`, `aVR = -(I + II) / 2`, `aVL = I - II / 2`,
/// `aVF = II - I / 2`. Only those four leads are derived, and only when both I and II are
/// channels of the recording (II is not rebuilt from I and III, nor I from II and III).
///
/// Channel names are matched with `LeadName.canonical`; channels that are not one of the 12
/// leads (or that the model does not use) are ignored and listed in `ignoredChannels`.
///
/// Ownership: a value type built once per recording layout (`init` allocates);
/// `apply(_:sampleCount:into:)` allocates nothing.
public struct LeadMap: Sendable, Equatable {
    /// Where a model lead comes from.
    public enum Source: Sendable, Equatable {
        /// The recording's channel at this index.
        case channel(Int)
        /// Derived from the recording's leads I and II.
        case derived
    }

    /// The model's leads, in its order, with standard names.
    public let leads: [String]
    /// One source per model lead.
    public let sources: [Source]
    /// The recording's channel names, as given.
    public let channelNames: [String]
    /// Channels no model lead reads (unknown names or leads the model does not use).
    public let ignoredChannels: [String]
    /// Channel indices of I and II when some lead is derived.
    private let leadI: Int
    private let leadII: Int
    /// The formula of each derived lead (nil for channels).
    private let derivations: [Derivation?]

    enum Derivation: Sendable, Equatable {
        case iii, aVR, aVL, aVF

        init?(lead: String) {
            switch lead {
            case "III": self = .iii
            case "aVR": self = .aVR
            case "aVL": self = .aVL
            case "aVF": self = .aVF
            default: return nil
            }
        }
    }

    /// The model leads that are derived rather than read.
    public var derivedLeads: [String] {
        zip(leads, sources).compactMap { $1 == .derived ? $0 : nil }
    }

    /// Matches `channelNames` (a recording's channels, in file order) to `modelLeads` (the
    /// model's `architecture.leads`).
    ///
    /// Throws `.unknownLeadName` / `.duplicateModelLead` for a bad model lead order,
    /// `.duplicateLead` naming the channels when two channels map to the same lead, and
    /// `.missingLeads` listing every model lead that is neither a channel nor derivable.
    public init(channelNames: [String], modelLeads: [String]) throws(SignalError) {
        var leads: [String] = []
        for raw in modelLeads {
            guard let lead = LeadName.canonical(raw) else { throw .unknownLeadName(raw) }
            if leads.contains(lead) { throw .duplicateModelLead(lead) }
            leads.append(lead)
        }
        // Channel index per standard lead; two channels for one lead is an error.
        var channelOf: [String: Int] = [:]
        var byLead: [String: [Int]] = [:]
        for (index, name) in channelNames.enumerated() {
            if let lead = LeadName.canonical(name) { byLead[lead, default: []].append(index) }
        }
        for lead in LeadName.standard {
            guard let indices = byLead[lead] else { continue }
            if indices.count > 1 {
                throw .duplicateLead(lead: lead, channels: indices.map { channelNames[$0] })
            }
            channelOf[lead] = indices[0]
        }
        let i = channelOf["I"], ii = channelOf["II"]
        var sources: [Source] = []
        var missing: [String] = []
        for lead in leads {
            if let index = channelOf[lead] {
                sources.append(.channel(index))
            } else if Derivation(lead: lead) != nil, i != nil, ii != nil {
                sources.append(.derived)
            } else {
                missing.append(lead)
            }
        }
        if !missing.isEmpty { throw .missingLeads(missing: missing, channels: channelNames) }
        self.leads = leads
        self.sources = sources
        self.channelNames = channelNames
        let used = Set(sources.compactMap { if case .channel(let c) = $0 { c } else { nil } })
            .union(sources.contains(.derived) ? [i!, ii!] : [])
        ignoredChannels = channelNames.indices.filter { !used.contains($0) }.map { channelNames[$0] }
        leadI = i ?? -1
        leadII = ii ?? -1
        derivations = zip(leads, sources).map { $1 == .derived ? Derivation(lead: $0) : nil }
    }

    /// Builds the model's lead-major window from a channel-major recording window:
    /// `input` holds `channelNames.count` rows of `sampleCount` samples, `output` receives
    /// `leads.count` rows. Allocates nothing. Throws `.bufferSizeMismatch` for wrong sizes.
    public func apply(_ input: UnsafeBufferPointer<Float>, sampleCount n: Int, into output: UnsafeMutableBufferPointer<Float>) throws(SignalError) {
        if input.count != channelNames.count * n {
            throw .bufferSizeMismatch(buffer: "channel input", expected: channelNames.count * n, actual: input.count)
        }
        if output.count != leads.count * n {
            throw .bufferSizeMismatch(buffer: "lead output", expected: leads.count * n, actual: output.count)
        }
        guard n > 0, let x = input.baseAddress, let y = output.baseAddress else { return }
        for row in 0 ..< sources.count {
            let out = y + row * n
            switch sources[row] {
            case .channel(let c):
                out.update(from: x + c * n, count: n)
            case .derived:
                Self.derive(derivations[row]!, leadI: x + leadI * n, leadII: x + leadII * n, into: out, count: n)
            }
        }
    }

    /// `apply` into a new array (allocates the result).
    public func apply(_ input: [Float], sampleCount: Int) throws(SignalError) -> [Float] {
        var output = [Float](repeating: 0, count: leads.count * sampleCount)
        try input.withUnsafeBufferPointer { (x) throws(SignalError) in
            try output.withUnsafeMutableBufferPointer { (y) throws(SignalError) in
                try apply(x, sampleCount: sampleCount, into: y)
            }
        }
        return output
    }

    /// One derived limb lead, sample by sample, in float32.
    static func derive(_ lead: Derivation, leadI a: UnsafePointer<Float>, leadII b: UnsafePointer<Float>,
                       into out: UnsafeMutablePointer<Float>, count n: Int) {
        switch lead {
        case .iii: for k in 0 ..< n { out[k] = b[k] - a[k] }
        case .aVR: for k in 0 ..< n { out[k] = -(a[k] + b[k]) / 2 }
        case .aVL: for k in 0 ..< n { out[k] = a[k] - b[k] / 2 }
        case .aVF: for k in 0 ..< n { out[k] = b[k] - a[k] / 2 }
        }
    }
}
