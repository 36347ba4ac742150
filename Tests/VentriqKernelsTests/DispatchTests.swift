import CVentriqKernels
import Foundation
import Testing

/// The run-time choice of kernels. Serialized: these tests change the process-wide selection
/// (the other suites call tables directly and never depend on it), and leave AUTO selected.
@Suite("Kernel dispatch", .serialized)
struct DispatchTests {
    /// The CPU features Linux reports (x86-64 `flags`, aarch64 `Features`), or nil elsewhere.
    private static func cpuFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
            if let colon = line.firstIndex(of: ":") {
                return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
            }
        }
        return nil
    }

    @Test("the ISAs this host supports are the ones its CPU reports")
    func hostDetection() throws {
        #expect(vq_kernels_isa_supported(VQ_ISA_REFERENCE) == 1)
        #expect(vq_kernels_isa_supported(VQ_ISA_AUTO) == 1)
        #expect(vq_kernels_isa_supported(99) == 0 && vq_kernels_table(99) == nil)
        #if arch(x86_64)
        let flags = try #require(Self.cpuFlags(), "no /proc/cpuinfo")
        let avx2 = flags.contains("avx2") && flags.contains("fma"), avx512 = avx2 && flags.contains("avx512f")
        let avx512vnni = avx512 && ["avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(flags.contains)
        let avxvnni = avx2 && flags.contains("avx_vnni")
        #expect((vq_kernels_isa_supported(VQ_ISA_AVX2) == 1) == avx2, "AVX2+FMA reported: \(avx2)")
        #expect((vq_kernels_isa_supported(VQ_ISA_AVX512) == 1) == avx512, "AVX-512F reported: \(avx512)")
        #expect((vq_kernels_isa_supported(VQ_ISA_AVX512_VNNI) == 1) == avx512vnni, "AVX-512 VNNI reported: \(avx512vnni)")
        #expect((vq_kernels_isa_supported(VQ_ISA_AVX_VNNI) == 1) == avxvnni, "AVX-VNNI reported: \(avxvnni)")
        #expect(vq_kernels_isa_supported(VQ_ISA_NEON) == 0 && vq_kernels_isa_supported(VQ_ISA_NEON_DOTPROD) == 0)
        #elseif arch(arm64)
        #expect(vq_kernels_isa_supported(VQ_ISA_NEON) == 1)
        #expect(vq_kernels_isa_supported(VQ_ISA_AVX2) == 0 && vq_kernels_isa_supported(VQ_ISA_AVX512) == 0)
        if let flags = Self.cpuFlags() { // Linux: "asimddp" is the dot product extension
            #expect((vq_kernels_isa_supported(VQ_ISA_NEON_DOTPROD) == 1) == flags.contains("asimddp"))
        }
        #endif
        print("kernel ISAs on this host: \(KernelISA.supported.map(\.description)); AUTO: \(String(cString: vq_kernels_table(VQ_ISA_AUTO)!.pointee.name))")
    }

    @Test("every table is complete and names itself")
    func tablesComplete() {
        let names: [Int32: String] = [VQ_ISA_REFERENCE: "reference", VQ_ISA_AVX2: "avx2", VQ_ISA_AVX512: "avx512",
                                      VQ_ISA_NEON: "neon", VQ_ISA_AVX512_VNNI: "avx512_vnni", VQ_ISA_AVX_VNNI: "avx_vnni",
                                      VQ_ISA_NEON_DOTPROD: "neon_dotprod"]
        for isa in KernelISA.supported {
            let t = isa.table
            #expect(t.isa == isa.id && String(cString: t.name) == names[isa.id], "\(isa)")
            let members: [Any?] = [t.sgemm_packed, t.sgemm_packed_accumulate, t.sgemm_nt, t.sgemm_nn, t.layernorm,
                                   t.softmax_rows, t.gelu_erf, t.erf, t.exp, t.add, t.mean_rows, t.qgemm_packed_f32,
                                   t.qgemm_packed_s8, t.quantize_s8, t.lut_s8]
            #expect(members.allSatisfy { $0 != nil }, "\(isa) has a NULL member")
        }
    }

    /// Runs a little of everything through the public entry points and through `t` directly; the
    /// results must be the same bits (the public functions call the selected table).
    private func publicMatchesTable(_ t: vq_kernel_table, _ rng: inout SplitMix64) -> Bool {
        let (m, n, k) = (13, 37, 29)
        let a = FloatBuffer(random: m * k, in: -1...1, using: &rng), w = FloatBuffer(random: n * k, in: -1...1, using: &rng)
        let bias = FloatBuffer(random: n, in: -1...1, using: &rng)
        let packed = FloatBuffer(count: vq_sgemm_packed_size(Int32(n), Int32(k)))
        vq_sgemm_pack(w.pointer, Int32(n), Int32(k), packed.pointer)
        let c1 = FloatBuffer(count: m * n), c2 = FloatBuffer(count: m * n)
        vq_sgemm_packed(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer, bias.pointer, c1.pointer, Int32(n))
        t.sgemm_packed!(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer, bias.pointer, c2.pointer, Int32(n))
        var same = c1.bitwiseEqual(c2)
        vq_sgemm_packed_accumulate(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer, nil, c1.pointer, Int32(n))
        t.sgemm_packed_accumulate!(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), packed.pointer, nil, c2.pointer, Int32(n))
        same = same && c1.bitwiseEqual(c2)
        let s1 = FloatBuffer(count: m * m), s2 = FloatBuffer(count: m * m)
        vq_sgemm_nt(Int32(m), Int32(m), Int32(k), a.pointer, Int32(k), a.pointer, Int32(k), 0.3, s1.pointer, Int32(m))
        t.sgemm_nt!(Int32(m), Int32(m), Int32(k), a.pointer, Int32(k), a.pointer, Int32(k), 0.3, s2.pointer, Int32(m))
        same = same && s1.bitwiseEqual(s2)
        vq_softmax_rows(Int32(m), Int32(m), s1.pointer, Int32(m))
        t.softmax_rows!(Int32(m), Int32(m), s2.pointer, Int32(m))
        same = same && s1.bitwiseEqual(s2)
        let o1 = FloatBuffer(count: m * k), o2 = FloatBuffer(count: m * k)
        vq_sgemm_nn(Int32(m), Int32(k), Int32(m), s1.pointer, Int32(m), a.pointer, Int32(k), o1.pointer, Int32(k))
        t.sgemm_nn!(Int32(m), Int32(k), Int32(m), s2.pointer, Int32(m), a.pointer, Int32(k), o2.pointer, Int32(k))
        same = same && o1.bitwiseEqual(o2)
        let g = FloatBuffer(random: k, in: 0.5...1.5, using: &rng), b = FloatBuffer(random: k, in: -1...1, using: &rng)
        vq_layernorm(Int32(m), Int32(k), o1.pointer, Int32(k), g.pointer, b.pointer, 1e-6, o1.pointer, Int32(k))
        t.layernorm!(Int32(m), Int32(k), o2.pointer, Int32(k), g.pointer, b.pointer, 1e-6, o2.pointer, Int32(k))
        same = same && o1.bitwiseEqual(o2)
        vq_gelu_erf(Int32(m * k), o1.pointer)
        t.gelu_erf!(Int32(m * k), o2.pointer)
        same = same && o1.bitwiseEqual(o2)
        vq_erf(Int32(m * k), o1.pointer)
        t.erf!(Int32(m * k), o2.pointer)
        vq_exp(Int32(m * k), o1.pointer)
        t.exp!(Int32(m * k), o2.pointer)
        vq_add(Int32(m * k), o1.pointer, a.pointer, o1.pointer)
        t.add!(Int32(m * k), o2.pointer, a.pointer, o2.pointer)
        same = same && o1.bitwiseEqual(o2)
        let y1 = FloatBuffer(count: k), y2 = FloatBuffer(count: k)
        vq_mean_rows(Int32(m), Int32(k), o1.pointer, Int32(k), y1.pointer)
        t.mean_rows!(Int32(m), Int32(k), o2.pointer, Int32(k), y2.pointer)
        same = same && y1.bitwiseEqual(y2)
        // int8: quantize the LayerNorm output, GEMM with both outputs, lookup table
        let q1 = CBuffer<Int8>(count: m * k, repeating: 0), q2 = CBuffer<Int8>(count: m * k, repeating: 0)
        vq_quantize_s8(Int32(m), Int32(k), o1.pointer, Int32(k), 40, q1.pointer, Int32(k))
        t.quantize_s8!(Int32(m), Int32(k), o2.pointer, Int32(k), 40, q2.pointer, Int32(k))
        same = same && q1.bytesEqual(q2)
        let wq = CBuffer<Int8>((0..<(n * k)).map { _ in Int8(rng.int(-127...127)) })
        let pq = CBuffer<Int8>(count: vq_qgemm_packed_size(Int32(n), Int32(k)), repeating: 0)
        vq_qgemm_pack(wq.pointer, Int32(n), Int32(k), pq.pointer)
        let bq = CBuffer<Int32>((0..<n).map { _ in Int32(rng.int(-5000...5000)) })
        let mq = CBuffer<Int32>(count: n, repeating: 1 << 30), sq = CBuffer<Int32>(count: n, repeating: -6)
        vq_qgemm_packed_f32(Int32(m), Int32(n), Int32(k), q1.pointer, Int32(k), pq.pointer, bq.pointer, bias.pointer,
                            c1.pointer, Int32(n))
        t.qgemm_packed_f32!(Int32(m), Int32(n), Int32(k), q1.pointer, Int32(k), pq.pointer, bq.pointer, bias.pointer,
                            c2.pointer, Int32(n))
        same = same && c1.bitwiseEqual(c2)
        let h1 = CBuffer<Int8>(count: m * n, repeating: 0), h2 = CBuffer<Int8>(count: m * n, repeating: 0)
        vq_qgemm_packed_s8(Int32(m), Int32(n), Int32(k), q1.pointer, Int32(k), pq.pointer, bq.pointer, mq.pointer,
                           sq.pointer, h1.pointer, Int32(n))
        t.qgemm_packed_s8!(Int32(m), Int32(n), Int32(k), q1.pointer, Int32(k), pq.pointer, bq.pointer, mq.pointer,
                           sq.pointer, h2.pointer, Int32(n))
        same = same && h1.bytesEqual(h2)
        let lut = CBuffer<Int8>((0..<256).map { Int8(($0 * 7) % 255 - 127) })
        vq_lut_s8(Int32(m * n), h1.pointer, lut.pointer, h1.pointer)
        t.lut_s8!(Int32(m * n), h2.pointer, lut.pointer, h2.pointer)
        return same && h1.bytesEqual(h2)
    }

    @Test("select each ISA in turn: each is then what the public functions run")
    func selectEachISA() {
        var rng = KernelSeed.generator(10_000)
        defer { _ = vq_kernels_select(VQ_ISA_AUTO) }
        for id in [VQ_ISA_AVX2, VQ_ISA_AVX512, VQ_ISA_AVX512_VNNI, VQ_ISA_AVX_VNNI, VQ_ISA_REFERENCE, VQ_ISA_NEON,
                   VQ_ISA_NEON_DOTPROD] {
            let before = vq_kernels_isa()
            guard let table = vq_kernels_table(id)?.pointee else {
                #expect(vq_kernels_select(id) == -1, "unsupported ISA \(id) must be refused")
                #expect(vq_kernels_isa() == before, "a refused selection changes nothing")
                continue
            }
            #expect(vq_kernels_select(id) == id)
            #expect(vq_kernels_isa() == id)
            #expect(String(cString: vq_kernels_isa_name()) == String(cString: table.name))
            #expect(vq_kernels_active()!.pointee.isa == id)
            #expect(publicMatchesTable(table, &rng), "public entry points do not run \(String(cString: table.name))")
        }
    }

    @Test("AUTO picks the widest ISA the CPU runs, with the int8 dot product instructions where it has them")
    func autoPicksWidest() {
        defer { _ = vq_kernels_select(VQ_ISA_AUTO) }
        let want: Int32 = [VQ_ISA_AVX512_VNNI, VQ_ISA_AVX512, VQ_ISA_AVX_VNNI, VQ_ISA_AVX2, VQ_ISA_NEON_DOTPROD, VQ_ISA_NEON]
            .first { vq_kernels_isa_supported($0) == 1 } ?? VQ_ISA_REFERENCE
        #expect(vq_kernels_select(VQ_ISA_REFERENCE) == VQ_ISA_REFERENCE)
        #expect(vq_kernels_select(VQ_ISA_AUTO) == want)
        #expect(vq_kernels_isa() == want && vq_kernels_table(VQ_ISA_AUTO)!.pointee.isa == want)
    }
}
