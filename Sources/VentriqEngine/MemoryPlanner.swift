/// Places buffers with known lifetimes into one arena so that buffers alive at the same time never
/// overlap, and buffers that are never alive together share bytes.
///
/// A pure value: feed it `addBuffer(bytes:firstUse:lastUse:)` (lifetimes in op steps, both ends
/// inclusive), then read `plan()`. Two strategies, as in TensorFlow Lite Micro's
/// `greedy_memory_planner` and `linear_memory_planner`:
/// - `.greedy`: largest buffer first, each at the lowest aligned offset that does not overlap a
///   buffer already placed whose lifetime intersects its own. Close to the lower bound for the
///   chain-shaped graphs of a transformer.
/// - `.linear`: every buffer gets its own bytes (no sharing); the baseline to compare against.
///
/// - Complexity: O(n² log n) for n buffers (n is a few dozen per model); allocates only while
///   planning, never at run time.
public struct MemoryPlanner: Sendable {
    public enum Strategy: String, Sendable, CaseIterable { case greedy, linear }

    /// One buffer request.
    public struct Buffer: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var firstUse: Int
        public var lastUse: Int

        func isAlive(at step: Int) -> Bool { firstUse <= step && step <= lastUse }
        func overlapsInTime(_ other: Buffer) -> Bool { firstUse <= other.lastUse && other.firstUse <= lastUse }
    }

    /// The planner's answer: one byte offset per buffer (in request order) and the arena size.
    public struct Plan: Sendable, Equatable {
        public var buffers: [Buffer]
        public var offsets: [Int]
        /// Bytes the arena needs (end of the highest placed buffer, rounded up to the alignment).
        public var arenaBytes: Int
        /// The largest total size of buffers alive at the same op step: no plan can do better.
        public var lowerBoundBytes: Int
        public var alignment: Int
    }

    public let alignment: Int
    public private(set) var buffers: [Buffer] = []

    /// - Parameter alignment: every offset is a multiple of it (a power of two; 64 = a cache line
    ///   and an AVX-512 register).
    public init(alignment: Int = 64) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.alignment = alignment
    }

    /// Adds a buffer alive from op step `firstUse` to `lastUse` (inclusive); returns its index.
    @discardableResult
    public mutating func addBuffer(name: String, bytes: Int, firstUse: Int, lastUse: Int) -> Int {
        precondition(bytes >= 0 && firstUse <= lastUse, "buffer \(name): bytes \(bytes), lifetime \(firstUse)...\(lastUse)")
        buffers.append(Buffer(name: name, bytes: bytes, firstUse: firstUse, lastUse: lastUse))
        return buffers.count - 1
    }

    private func aligned(_ n: Int) -> Int { (n + alignment - 1) & ~(alignment - 1) }

    /// The largest sum of (aligned) sizes of buffers alive at the same step.
    public var lowerBoundBytes: Int {
        let steps = Set(buffers.flatMap { [$0.firstUse, $0.lastUse] })
        return steps.map { step in buffers.filter { $0.isAlive(at: step) }.reduce(0) { $0 + aligned($1.bytes) } }.max() ?? 0
    }

    public func plan(_ strategy: Strategy = .greedy) -> Plan {
        var offsets = [Int](repeating: 0, count: buffers.count)
        switch strategy {
        case .linear:
            var next = 0
            for (i, b) in buffers.enumerated() {
                offsets[i] = next
                next += aligned(b.bytes)
            }
        case .greedy:
            // Largest first; ties by earlier first use, then request order, so plans are stable.
            let order = buffers.indices.sorted {
                let (a, b) = (buffers[$0], buffers[$1])
                if a.bytes != b.bytes { return a.bytes > b.bytes }
                if a.firstUse != b.firstUse { return a.firstUse < b.firstUse }
                return $0 < $1
            }
            var placed: [Int] = []
            for i in order {
                let b = buffers[i]
                // Intervals [offset, offset + size) of placed buffers that live at the same time.
                let busy = placed.filter { buffers[$0].overlapsInTime(b) }
                    .map { (start: offsets[$0], end: offsets[$0] + aligned(buffers[$0].bytes)) }
                    .sorted { $0.start < $1.start }
                var candidate = 0
                for interval in busy {
                    if candidate + aligned(b.bytes) <= interval.start { break }
                    candidate = max(candidate, interval.end)
                }
                offsets[i] = candidate
                placed.append(i)
            }
        }
        let end = zip(buffers, offsets).map { $1 + aligned($0.bytes) }.max() ?? 0
        return Plan(buffers: buffers, offsets: offsets, arenaBytes: end, lowerBoundBytes: lowerBoundBytes, alignment: alignment)
    }
}

extension MemoryPlanner.Plan {
    /// The first pair of buffers that are alive together and share bytes, if any (a planner bug).
    public func firstConflict() -> (String, String)? {
        for i in buffers.indices {
            for j in buffers.indices where j > i && buffers[i].overlapsInTime(buffers[j]) {
                let (a0, a1) = (offsets[i], offsets[i] + buffers[i].bytes)
                let (b0, b1) = (offsets[j], offsets[j] + buffers[j].bytes)
                if a0 < b1 && b0 < a1 && buffers[i].bytes > 0 && buffers[j].bytes > 0 {
                    return (buffers[i].name, buffers[j].name)
                }
            }
        }
        return nil
    }

    /// A table of the plan (name, bytes, lifetime, offset), for `ventriq inspect --plan`.
    public var table: String {
        var lines = ["buffer                          bytes   steps     offset"]
        for (b, offset) in zip(buffers, offsets).sorted(by: { $0.1 < $1.1 }) {
            let name = b.name.padding(toLength: 28, withPad: " ", startingAt: 0)
            let bytes = String(b.bytes).leftPadded(to: 9)
            let steps = "\(b.firstUse)-\(b.lastUse)".leftPadded(to: 8)
            lines.append("\(name)\(bytes)  \(steps)  \(String(offset).leftPadded(to: 9))")
        }
        lines.append("arena \(arenaBytes) bytes, lower bound \(lowerBoundBytes) bytes")
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
