import Foundation
import Ventriq

/// The labelled held-out set of the trainer's export (`heldout.safetensors`): raw recordings in
/// mV [N, leads, samples] at the model's rate, phenotypes [N, P] and disease labels [N, D], with
/// their names in the metadata.
public struct HeldoutSet: Sendable {
    public var recordings: [Recording]
    /// Per target of the model (config order): the true values.
    public var targets: [[Double]]
    /// Per disease of the model (config order): 0/1 labels.
    public var diseases: [[Int]]
    public var source: String

    public static func load(_ url: URL, model: Model, limit: Int? = nil) throws -> HeldoutSet {
        let path = url.path
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: url) } catch { throw QuantizeError.heldout("\(error)") }
        let c = model.config, a = c.architecture
        func names(_ key: String) throws -> [String] {
            guard let raw = file.metadata[key], let list = try? JSONDecoder().decode([String].self, from: Data(raw.utf8)) else {
                throw QuantizeError.heldout("\(path): metadata '\(key)' (a JSON list of names) is missing")
            }
            return list
        }
        let phenotypeNames = try names("phenotypes"), diseaseNames = try names("diseases")
        let shape = try file.info("recordings_mv").shape
        guard shape.count == 3, shape[1] == a.leads.count else {
            throw QuantizeError.heldout("\(path): recordings_mv has shape \(shape); expected [N, \(a.leads.count), samples]")
        }
        let n = min(shape[0], limit ?? Int.max), samples = shape[2]
        guard n >= 2 else { throw QuantizeError.heldout("\(path): \(n) recordings; the report needs at least 2") }
        let raw = try file.floats("recordings_mv")
        let phenotypes = try file.floats("phenotypes"), labels = try file.uint8s("diseases")
        var recordings: [Recording] = []
        for i in 0..<n {
            let channels = a.leads.enumerated().map { k, lead in
                Channel(name: lead, unit: "mV", samples: Array(raw[((i * a.leads.count + k) * samples)..<((i * a.leads.count + k + 1) * samples)]))
            }
            recordings.append(Recording(name: "heldout-\(i)", source: "\(path)#\(i)", samplingRateHz: a.fsHz, channels: channels, sampleCount: samples))
        }
        let targets = try c.targets.map { t -> [Double] in
            guard let j = phenotypeNames.firstIndex(of: t.name) else {
                throw QuantizeError.heldout("\(path): no phenotype '\(t.name)' (has \(phenotypeNames))")
            }
            return (0..<n).map { Double(phenotypes[$0 * phenotypeNames.count + j]) }
        }
        let diseases = try c.diseases.map { d -> [Int] in
            guard let j = diseaseNames.firstIndex(of: d) else { throw QuantizeError.heldout("\(path): no disease '\(d)' (has \(diseaseNames))") }
            return (0..<n).map { Int(labels[$0 * diseaseNames.count + j]) }
        }
        return HeldoutSet(recordings: recordings, targets: targets, diseases: diseases, source: path)
    }
}

/// Float vs int8 on the held-out set: the numbers the accuracy gate decides on, stored in the
/// int8 model's metadata.
public struct AccuracyReport: Codable, Sendable, Equatable {
    public struct TargetRow: Codable, Sendable, Equatable {
        public var name: String
        public var r2Float: Double
        public var r2Int8: Double
        public var maxAbsDifference: Double
        public var delta: Double { r2Int8 - r2Float }

        enum CodingKeys: String, CodingKey {
            case name, r2Float = "r2_float", r2Int8 = "r2_int8", maxAbsDifference = "max_abs_difference"
        }
    }

    public struct DiseaseRow: Codable, Sendable, Equatable {
        public var name: String
        public var aurocFloat: Double
        public var aurocInt8: Double
        public var positives: Int
        public var maxAbsDifference: Double
        /// Recordings whose risk flag (probability >= the model's threshold) differs between float and int8.
        public var flagChanges: Int
        public var delta: Double { aurocInt8 - aurocFloat }

        enum CodingKeys: String, CodingKey {
            case name, aurocFloat = "auroc_float", aurocInt8 = "auroc_int8", positives
            case maxAbsDifference = "max_abs_probability_difference", flagChanges = "flag_changes"
        }
    }

    public var recordings: Int
    public var windows: Int
    public var targets: [TargetRow]
    public var diseases: [DiseaseRow]
    public var meanCosine: Double
    public var minCosine: Double

    enum CodingKeys: String, CodingKey {
        case recordings, windows, targets, diseases, meanCosine = "embedding_cosine_mean", minCosine = "embedding_cosine_min"
    }

    /// Float and int8 scorers over the held-out recordings.
    public static func evaluate(float: Model, int8: Model, on set: HeldoutSet) throws -> AccuracyReport {
        let f = try Scorer(model: float), q = try Scorer(model: int8)
        let c = float.config
        var fEstimates = [[Double]](repeating: [], count: c.targets.count), qEstimates = fEstimates
        var fProbabilities = [[Double]](repeating: [], count: c.diseases.count), qProbabilities = fProbabilities
        var cosines: [Double] = []
        var flagChanges = [Int](repeating: 0, count: c.diseases.count)
        for recording in set.recordings {
            var embeddings: [[Float]] = []
            let a = try f.score(recording) { _, out in embeddings.append(Array(out.embedding)) }
            var k = 0
            let b = try q.score(recording) { _, out in
                cosines.append(cosine(embeddings[k], out.embedding))
                k += 1
            }
            for i in c.targets.indices { fEstimates[i].append(a.estimates[i].value); qEstimates[i].append(b.estimates[i].value) }
            for i in c.diseases.indices {
                fProbabilities[i].append(a.risks[i].probability)
                qProbabilities[i].append(b.risks[i].probability)
                if a.risks[i].flagged != b.risks[i].flagged { flagChanges[i] += 1 }
            }
        }
        let targets = c.targets.enumerated().map { i, t in
            TargetRow(name: t.name, r2Float: Metrics.r2(truth: set.targets[i], predicted: fEstimates[i]),
                      r2Int8: Metrics.r2(truth: set.targets[i], predicted: qEstimates[i]),
                      maxAbsDifference: zip(fEstimates[i], qEstimates[i]).map { abs($0 - $1) }.max() ?? 0)
        }
        let diseases = c.diseases.enumerated().map { i, d in
            DiseaseRow(name: d, aurocFloat: Metrics.auroc(labels: set.diseases[i], scores: fProbabilities[i]),
                       aurocInt8: Metrics.auroc(labels: set.diseases[i], scores: qProbabilities[i]),
                       positives: set.diseases[i].reduce(0, +),
                       maxAbsDifference: zip(fProbabilities[i], qProbabilities[i]).map { abs($0 - $1) }.max() ?? 0,
                       flagChanges: flagChanges[i])
        }
        return AccuracyReport(recordings: set.recordings.count, windows: cosines.count, targets: targets, diseases: diseases,
                              meanCosine: cosines.reduce(0, +) / Double(max(cosines.count, 1)), minCosine: cosines.min() ?? 0)
    }

    static func cosine(_ a: [Float], _ b: UnsafeBufferPointer<Float>) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : (na == nb ? 1 : 0)
    }

    /// The gate's verdict: every violated limit, or an empty list when the int8 model passes.
    public func violations(_ gate: AccuracyGate) -> [String] {
        var out: [String] = []
        for t in targets where abs(t.delta) > gate.maxR2Drop || !t.r2Int8.isFinite {
            out.append("\(t.name): |dR2| = \(String(format: "%.4f", abs(t.delta))) > \(gate.maxR2Drop)")
        }
        for d in diseases where d.aurocFloat.isFinite && (abs(d.delta) > gate.maxAUROCDrop || !d.aurocInt8.isFinite) {
            out.append("\(d.name): |dAUROC| = \(String(format: "%.4f", abs(d.delta))) > \(gate.maxAUROCDrop)")
        }
        if !(meanCosine >= gate.minMeanCosine) {
            out.append("mean embedding cosine \(String(format: "%.6f", meanCosine)) < \(gate.minMeanCosine)")
        }
        return out
    }

    /// The table printed by the quantizer.
    public var table: String {
        func f(_ v: Double, _ d: Int = 4) -> String { v.isFinite ? String(format: "%.\(d)f", v) : "n/a" }
        var lines = ["held-out: \(recordings) recordings, \(windows) windows",
                     "target          R2 float     R2 int8      dR2  max |diff|"]
        for t in targets {
            lines.append("\(t.name.padding(toLength: 14, withPad: " ", startingAt: 0))  \(f(t.r2Float).leftPad(8))  \(f(t.r2Int8).leftPad(10))  "
                         + "\(f(t.delta).leftPad(7))  \(f(t.maxAbsDifference).leftPad(10))")
        }
        lines.append("disease         AUROC float  AUROC int8   dAUROC  positives  max |dp|  flags changed")
        for d in diseases {
            lines.append("\(d.name.padding(toLength: 14, withPad: " ", startingAt: 0))  \(f(d.aurocFloat).leftPad(11))  \(f(d.aurocInt8).leftPad(10))  "
                         + "\(f(d.delta).leftPad(7))  \(String(d.positives).leftPad(9))  \(f(d.maxAbsDifference).leftPad(8))  \(String(d.flagChanges).leftPad(13))")
        }
        lines.append("embedding cosine: mean \(f(meanCosine, 6)), min \(f(minCosine, 6))")
        return lines.joined(separator: "\n")
    }
}

/// The limits the int8 model must meet against the float model.
public struct AccuracyGate: Sendable, Equatable {
    public var maxR2Drop: Double = 0.005
    public var maxAUROCDrop: Double = 0.005
    public var minMeanCosine: Double = 0.999
    public init(maxR2Drop: Double = 0.005, maxAUROCDrop: Double = 0.005, minMeanCosine: Double = 0.999) {
        self.maxR2Drop = maxR2Drop
        self.maxAUROCDrop = maxAUROCDrop
        self.minMeanCosine = minMeanCosine
    }
}

/// R² and AUROC as the trainer computes them (sklearn's definitions).
public enum Metrics {
    public static func r2(truth: [Double], predicted: [Double]) -> Double {
        let mean = truth.reduce(0, +) / Double(truth.count)
        let ssTot = truth.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let ssRes = zip(truth, predicted).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return ssTot > 0 ? 1 - ssRes / ssTot : .nan
    }

    /// Mann-Whitney AUROC with average ranks for ties; NaN without both classes.
    public static func auroc(labels: [Int], scores: [Double]) -> Double {
        let positives = labels.filter { $0 == 1 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = rank }
            i = j + 1
        }
        let sum = zip(labels, ranks).filter { $0.0 == 1 }.reduce(0) { $0 + $1.1 }
        return (sum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
