import Foundation
import Testing
import VentriqTestSupport
@testable import VentriqSignal

@Suite struct LeadNameTests {
    @Test(arguments: [
        ("I", "I"), ("II", "II"), ("III", "III"), ("aVR", "aVR"), ("aVL", "aVL"), ("aVF", "aVF"),
        ("avr", "aVR"), ("AVR", "aVR"), ("AvL", "aVL"), ("avf", "aVF"), ("i", "I"), ("ii", "II"), ("iii", "III"),
        ("v1", "V1"), ("V6", "V6"), ("C1", "V1"), ("c4", "V4"), ("C6", "V6"),
        ("lead I", "I"), ("Lead II", "II"), ("LEAD_II", "II"), ("lead-aVR", "aVR"), ("LEAD:V3", "V3"),
        ("leadIII", "III"), ("lead.v5", "V5"), ("ECG I", "I"), ("ECG_aVF", "aVF"), ("ecg v2", "V2"),
        ("DI", "I"), ("DII", "II"), ("DIII", "III"), ("d1", "I"), ("D2", "II"), ("D3", "III"),
        ("  V2 ", "V2"), ("\taVL\n", "aVL"), ("lead  II", "II"),
    ])
    func canonicalNames(_ raw: String, _ expected: String) {
        #expect(LeadName.canonical(raw) == expected)
    }

    @Test(arguments: [
        "MLII", "MLI", "MLIII", "ML II", "-aVR", "V3R", "V4R", "V7", "V9", "C7", "1", "2", "lead", "LEAD ", "",
        "IV", "aV", "VR", "Resp", "Pleth", "ECG", "D4", "I II", "lead I lead",
    ])
    func rejectedNames(_ raw: String) {
        #expect(LeadName.canonical(raw) == nil)
    }

    @Test func standardNamesAreTheirOwnCanonicalForm() {
        #expect(LeadName.standard.map { LeadName.canonical($0) } == LeadName.standard)
        #expect(LeadName.standard.count == 12)
    }
}

@Suite struct LeadMapTests {
    /// Channel-major test data: channel c, sample k.
    static func window(channels: Int, samples: Int, seed: UInt64) -> [Float] {
        var rng = TestRandom(seed: seed)
        return (0 ..< channels * samples).map { _ in Float(rng.gaussian()) }
    }

    @Test func reordersAliasedChannelsToTheModelOrder() throws {
        let model = try Reference.defaultModelLeads()
        #expect(model == LeadName.standard)
        let channels = ["V6", "c5", "v4", "V3", "V2", "V1", "AVF", "avl", "aVR", "DIII", "lead II", "Lead I", "Resp"]
        let map = try LeadMap(channelNames: channels, modelLeads: model)
        #expect(map.derivedLeads.isEmpty)
        #expect(map.ignoredChannels == ["Resp"])
        #expect(map.sources == (0 ..< 12).map { .channel(11 - $0) })
        let n = 50
        let x = Self.window(channels: 13, samples: n, seed: 1)
        let y = try map.apply(x, sampleCount: n)
        for lead in 0 ..< 12 {
            #expect(Array(y[lead * n ..< (lead + 1) * n]) == Array(x[(11 - lead) * n ..< (12 - lead) * n]))
        }
    }

    /// III, aVR, aVL, aVF from I and II, bit for bit as numpy computes them on float32 arrays.
    @Test func derivesLimbLeadsLikeNumpy() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ventriq-leads")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python("""
            import sys
            import numpy as np
            from ventriq_training.records import limb_leads_from_i_ii
            rng = np.random.default_rng(21)
            n = 4000
            # Wide dynamic range, so the additions and halvings round.
            i = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 1, n)).astype(np.float32)
            ii = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 1, n)).astype(np.float32)
            i[:4] = [np.float32(1e-45), np.float32(-3e38), np.float32(0.1), np.float32(0.0)]
            ii[:4] = [np.float32(3e-45), np.float32(-3e38), np.float32(-0.1), np.float32(-0.0)]
            derived = limb_leads_from_i_ii(i, ii)
            assert all(d.dtype == np.float32 for d in derived)
            np.stack([i, ii]).tofile(sys.argv[1] + '/i_ii.f32')
            np.stack(derived).tofile(sys.argv[1] + '/derived.f32')
            """, [dir.path])
        let iAndII = try Reference.floats(dir.appendingPathComponent("i_ii.f32"))
        let expected = try Reference.floats(dir.appendingPathComponent("derived.f32"))
        let n = iAndII.count / 2
        // An 8-lead recording (I, II, V1-V6), the layout many carts store.
        let chest = Self.window(channels: 6, samples: n, seed: 2)
        let channels = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
        let map = try LeadMap(channelNames: channels, modelLeads: Reference.defaultModelLeads())
        #expect(map.derivedLeads == ["III", "aVR", "aVL", "aVF"])
        #expect(map.sources[2 ..< 6].allSatisfy { $0 == .derived })
        #expect(map.ignoredChannels.isEmpty)
        let y = try map.apply(iAndII + chest, sampleCount: n)
        #expect(Array(y[0 ..< 2 * n]) == iAndII)
        let derived = Array(y[2 * n ..< 6 * n])
        let mismatches = zip(derived, expected).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(mismatches == 0, "\(mismatches) derived samples differ from numpy")
        #expect(Array(y[6 * n ..< 12 * n]) == chest)
    }

    @Test func missingLeadsAreAllListed() throws {
        let model = LeadName.standard
        let noI = #expect(throws: SignalError.self) {
            try LeadMap(channelNames: ["II", "V1", "V2", "V3", "V4", "V5", "V6"], modelLeads: model)
        }
        #expect(noI == .missingLeads(missing: ["I", "III", "aVR", "aVL", "aVF"], channels: ["II", "V1", "V2", "V3", "V4", "V5", "V6"]))
        #expect(noI?.description == "recording lacks leads I, III, aVR, aVL, aVF (it has channels II, V1, V2, V3, V4, V5, V6; "
            + "III, aVR, aVL and aVF are derived only when both I and II are present)")
        let limbsOnly = #expect(throws: SignalError.self) { try LeadMap(channelNames: ["I", "II", "MLII"], modelLeads: model) }
        #expect(limbsOnly == .missingLeads(missing: ["V1", "V2", "V3", "V4", "V5", "V6"], channels: ["I", "II", "MLII"]))
        // II is not rebuilt from I and III.
        let noII = #expect(throws: SignalError.self) {
            try LeadMap(channelNames: ["I", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"], modelLeads: model)
        }
        #expect(noII == .missingLeads(missing: ["II"], channels: ["I", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]))
        let none = #expect(throws: SignalError.self) { try LeadMap(channelNames: [], modelLeads: ["I", "V2"]) }
        #expect(none?.description == "recording lacks leads I, V2 (it has no channels; "
            + "III, aVR, aVL and aVF are derived only when both I and II are present)")
        // A model that needs fewer leads: only those count.
        let subset = try LeadMap(channelNames: ["I", "II", "V2"], modelLeads: ["aVF", "V2"])
        #expect(subset.sources == [.derived, .channel(2)] && subset.ignoredChannels.isEmpty)
    }

    @Test func duplicateChannelsAreNamed() {
        let twoI = #expect(throws: SignalError.self) {
            try LeadMap(channelNames: ["I", "II", "lead I", "V1"], modelLeads: ["I", "II", "V1"])
        }
        #expect(twoI == .duplicateLead(lead: "I", channels: ["I", "lead I"]))
        #expect(twoI?.description == "channels \"I\" and \"lead I\" both map to lead I")
        let threeV1 = #expect(throws: SignalError.self) {
            try LeadMap(channelNames: ["V1", "C1", "v1", "II"], modelLeads: ["II"])
        }
        #expect(threeV1?.description == "channels \"V1\" and \"C1\" and \"v1\" all map to lead V1")
    }

    @Test func badModelLeadOrder() {
        #expect(throws: SignalError.unknownLeadName("V7")) { try LeadMap(channelNames: ["I"], modelLeads: ["I", "V7"]) }
        #expect(SignalError.unknownLeadName("V7").description == "\"V7\" is not one of the 12 standard ECG leads")
        #expect(throws: SignalError.duplicateModelLead("II")) { try LeadMap(channelNames: ["I", "II"], modelLeads: ["II", "lead II"]) }
    }

    @Test func bufferSizesAreChecked() throws {
        let map = try LeadMap(channelNames: ["I", "II"], modelLeads: ["I", "II", "III"])
        #expect(throws: SignalError.bufferSizeMismatch(buffer: "channel input", expected: 20, actual: 21)) {
            try map.apply([Float](repeating: 0, count: 21), sampleCount: 10)
        }
        var output = [Float](repeating: 0, count: 29)
        let input = [Float](repeating: 0, count: 20)
        #expect(throws: SignalError.bufferSizeMismatch(buffer: "lead output", expected: 30, actual: 29)) {
            try input.withUnsafeBufferPointer { x in
                try output.withUnsafeMutableBufferPointer { try map.apply(x, sampleCount: 10, into: $0) }
            }
        }
    }

    @Test(.enabled(if: AllocationCounter.available() == 1, "malloc interposition needs glibc"))
    func applyDoesNotAllocate() throws {
        let map = try LeadMap(channelNames: ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"], modelLeads: LeadName.standard)
        let input = Self.window(channels: 8, samples: 2500, seed: 3)
        var output = [Float](repeating: 0, count: 12 * 2500)
        var fewest = UInt64.max
        try input.withUnsafeBufferPointer { x in
            try output.withUnsafeMutableBufferPointer { y in
                try map.apply(x, sampleCount: 2500, into: y)
                for _ in 0 ..< 10 {
                    AllocationCounter.start()
                    try map.apply(x, sampleCount: 2500, into: y)
                    AllocationCounter.stop()
                    fewest = min(fewest, AllocationCounter.allocations())
                }
            }
        }
        #expect(fewest == 0)
    }
}
