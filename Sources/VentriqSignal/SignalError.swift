/// Everything that can go wrong in signal conditioning, each case carrying what the message names.
///
/// Thrown with typed throws (`throws(SignalError)`), so throwing does not box the error; the
/// errors are built only on failure paths (the success paths of the per-window calls allocate
/// nothing). `description` is the sentence meant for a user or a log.
public enum SignalError: Error, Equatable, Sendable, CustomStringConvertible {
    // ---- the conditioning spec (model config `preprocessing`) ----

    /// A step name in the spec's `chain` that this runtime does not implement.
    case unknownConditioningStep(name: String, known: [String])
    /// Every step is known, but the chain is not the one the settings describe.
    case conditioningChainMismatch(chain: [String], expected: [String])
    /// A field of the spec is missing, has the wrong length or an impossible value.
    case invalidConditioningSpec(field: String, problem: String)

    // ---- shapes and buffers ----

    /// A lead or sample count that cannot describe a signal (zero or negative).
    case invalidShape(leadCount: Int, sampleCount: Int)
    /// A caller-provided buffer of the wrong size.
    case bufferSizeMismatch(buffer: String, expected: Int, actual: Int)
    /// The window is shorter than the chain's `min_length`.
    case signalTooShort(samples: Int, minimum: Int)
    /// The first non-finite input value in lead-major order.
    case nonFiniteSample(lead: Int, sample: Int, value: Float)

    // ---- resampling ----

    /// Rates that cannot be converted (non-positive, non-finite, or too large a ratio).
    case unsupportedResampling(fromHz: Double, toHz: Double, reason: String)

    // ---- leads ----

    /// A lead name (of the model's lead order) that is not one of the 12 standard leads.
    case unknownLeadName(String)
    /// The model's lead order names a lead twice.
    case duplicateModelLead(String)
    /// Leads the model needs that the recording neither has nor allows deriving.
    case missingLeads(missing: [String], channels: [String])
    /// Two or more channels of the recording map to the same lead.
    case duplicateLead(lead: String, channels: [String])

    public var description: String {
        switch self {
        case .unknownConditioningStep(let name, let known):
            return "unknown conditioning step \"\(name)\" in the model's preprocessing chain "
                + "(this runtime implements \(known.joined(separator: ", ")))"
        case .conditioningChainMismatch(let chain, let expected):
            return "preprocessing chain [\(chain.joined(separator: ", "))] does not match its settings, "
                + "which describe [\(expected.joined(separator: ", "))]"
        case .invalidConditioningSpec(let field, let problem):
            return "invalid preprocessing spec: \(field) \(problem)"
        case .invalidShape(let leadCount, let sampleCount):
            return "invalid signal shape: \(leadCount) leads x \(sampleCount) samples "
                + "(both must be at least 1)"
        case .bufferSizeMismatch(let buffer, let expected, let actual):
            return "\(buffer) buffer holds \(actual) values; expected \(expected)"
        case .signalTooShort(let samples, let minimum):
            return "ECG window has \(samples) samples; the conditioning chain needs at least \(minimum)"
        case .nonFiniteSample(let lead, let sample, let value):
            return "ECG signal has a non-finite value (\(value)) at lead \(lead), sample \(sample)"
        case .unsupportedResampling(let fromHz, let toHz, let reason):
            return "cannot resample from \(fromHz) Hz to \(toHz) Hz: \(reason)"
        case .unknownLeadName(let name):
            return "\"\(name)\" is not one of the 12 standard ECG leads"
        case .duplicateModelLead(let name):
            return "the model's lead order names lead \(name) more than once"
        case .missingLeads(let missing, let channels):
            let has = channels.isEmpty ? "no channels" : "channels " + channels.joined(separator: ", ")
            return "recording lacks leads \(missing.joined(separator: ", ")) (it has \(has); "
                + "III, aVR, aVL and aVF are derived only when both I and II are present)"
        case .duplicateLead(let lead, let channels):
            let names = channels.map { "\"\($0)\"" }.joined(separator: " and ")
            return "channels \(names) \(channels.count == 2 ? "both" : "all") map to lead \(lead)"
        }
    }
}
