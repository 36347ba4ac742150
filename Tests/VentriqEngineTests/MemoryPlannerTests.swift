import Testing
import VentriqTestSupport
@testable import VentriqEngine

@Suite("MemoryPlanner")
struct MemoryPlannerTests {
    @Test("a chain reuses bytes: two buffers at a time, arena equals the lower bound")
    func chainReuse() {
        var planner = MemoryPlanner(alignment: 64)
        for i in 0..<6 { planner.addBuffer(name: "t\(i)", bytes: 1000, firstUse: i, lastUse: i + 1) }
        let plan = planner.plan(.greedy)
        #expect(plan.firstConflict() == nil)
        #expect(plan.lowerBoundBytes == 2 * 1024)
        #expect(plan.arenaBytes == plan.lowerBoundBytes)
        #expect(planner.plan(.linear).arenaBytes == 6 * 1024)
    }

    @Test("buffers alive together never overlap; offsets are aligned")
    func randomLifetimes() {
        var rng = TestRandom(seed: 0x5EED)
        for _ in 0..<200 {
            var planner = MemoryPlanner(alignment: 64)
            for i in 0..<Int.random(in: 1...40, using: &rng) {
                let first = Int.random(in: 0..<30, using: &rng)
                planner.addBuffer(name: "b\(i)", bytes: Int.random(in: 0...5000, using: &rng),
                                  firstUse: first, lastUse: first + Int.random(in: 0..<8, using: &rng))
            }
            for strategy in MemoryPlanner.Strategy.allCases {
                let plan = planner.plan(strategy)
                #expect(plan.firstConflict() == nil)
                #expect(plan.offsets.allSatisfy { $0 % 64 == 0 })
                #expect(plan.arenaBytes >= plan.lowerBoundBytes)
            }
            #expect(planner.plan(.greedy).arenaBytes <= planner.plan(.linear).arenaBytes)
        }
    }

    @Test("largest first: a big buffer and small ones that outlive each other")
    func greedyOrder() {
        var planner = MemoryPlanner(alignment: 16)
        planner.addBuffer(name: "small-a", bytes: 16, firstUse: 0, lastUse: 1)
        planner.addBuffer(name: "big", bytes: 160, firstUse: 1, lastUse: 2)
        planner.addBuffer(name: "small-b", bytes: 16, firstUse: 2, lastUse: 3)
        let plan = planner.plan(.greedy)
        #expect(plan.offsets == [160, 0, 160])
        #expect(plan.arenaBytes == 176)
        #expect(plan.lowerBoundBytes == 176)
    }

    @Test("the plan table lists every buffer and the totals")
    func table() {
        var planner = MemoryPlanner()
        planner.addBuffer(name: "input", bytes: 128, firstUse: 0, lastUse: 0)
        let table = planner.plan().table
        #expect(table.contains("input"))
        #expect(table.contains("arena 128 bytes, lower bound 128 bytes"))
    }
}

