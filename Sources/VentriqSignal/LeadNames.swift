/// The 12 standard ECG leads and the names recordings give them.
public enum LeadName {
    /// The 12 leads in Ventriq's order (the trainer's `LEADS`).
    public static let standard: [String] = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]

    /// The limb leads that can be derived from I and II (Einthoven's and Goldberger's relations).
    public static let derivable: [String] = ["III", "aVR", "aVL", "aVF"]

    /// The standard name of a channel name, or nil when it is not one of the 12 leads.
    ///
    /// Accepted, case-insensitively and after trimming whitespace:
    /// - the standard names: `I`, `II`, `III`, `aVR`, `aVL`, `aVF`, `V1` ... `V6` (`avr`, `AVR`,
    ///   `v1`, `ii` ...);
    /// - a `lead` or `ECG` prefix, alone or followed by a space, `_`, `-`, `:` or `.`
    ///   (`lead I`, `LEAD_II`, `Lead-aVR`, `ECG V1`, `ECG_II`);
    /// - the European limb-lead names `DI`, `DII`, `DIII` and `D1`, `D2`, `D3`;
    /// - the European chest-lead names `C1` ... `C6` for `V1` ... `V6`.
    ///
    /// Deliberately not accepted (nil), because they are different signals that a model trained
    /// on the standard leads must not silently receive: `MLII`, `MLI`, `MLIII` and other
    /// modified (Mason-Likar / Holter torso) leads, inverted leads (`-aVR`), right-sided and
    /// posterior chest leads (`V3R`, `V4R`, `V7` ... `V9`), and bare channel numbers (`1`, `2`).
    public static func canonical(_ raw: String) -> String? {
        var name = Substring(raw.trimmingWhitespace().uppercasedASCII())
        for prefix in ["LEAD", "ECG"] where name.hasPrefix(prefix) {
            var rest = name.dropFirst(prefix.count)
            while let first = rest.first, " _-:.\t".contains(first) { rest = rest.dropFirst() }
            if !rest.isEmpty { name = rest }
            break
        }
        return aliases[String(name)]
    }

    /// Upper-cased alias -> standard name.
    private static let aliases: [String: String] = {
        var table: [String: String] = [:]
        for lead in standard { table[lead.uppercasedASCII()] = lead }
        for (roman, digit, lead) in [("DI", "D1", "I"), ("DII", "D2", "II"), ("DIII", "D3", "III")] {
            table[roman] = lead
            table[digit] = lead
        }
        for k in 1 ... 6 { table["C\(k)"] = "V\(k)" }
        return table
    }()
}

extension String {
    /// ASCII upper-casing (lead names are ASCII; no locale rules).
    func uppercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }

    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return s
    }
}

extension Substring {
    func uppercasedASCII() -> String { String(self).uppercasedASCII() }
}
