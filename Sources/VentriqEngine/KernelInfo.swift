import CVentriqKernels

/// Which kernels an interpreter binds at prepare time.
public enum KernelChoice: String, Sendable, CaseIterable {
    /// The best instruction set this CPU runs (AVX-512 VNNI, AVX-512, AVX-VNNI, AVX2, NEON with
    /// dot product, NEON, else scalar).
    case automatic = "auto"
    /// The portable scalar reference kernels.
    case reference
    case avx2
    case avx512
    /// AVX-512 with VNNI (int8 dot products in one instruction).
    case avx512VNNI = "avx512_vnni"
    /// AVX2 with AVX-VNNI (VEX-encoded int8 dot products).
    case avxVNNI = "avx_vnni"
    case neon
    /// NEON with the dot product extension (sdot).
    case neonDotprod = "neon_dotprod"

    var isa: Int32 {
        switch self {
        case .automatic: return VQ_ISA_AUTO
        case .reference: return VQ_ISA_REFERENCE
        case .avx2: return VQ_ISA_AVX2
        case .avx512: return VQ_ISA_AVX512
        case .neon: return VQ_ISA_NEON
        case .avx512VNNI: return VQ_ISA_AVX512_VNNI
        case .avxVNNI: return VQ_ISA_AVX_VNNI
        case .neonDotprod: return VQ_ISA_NEON_DOTPROD
        }
    }

    /// Whether this build and CPU can run the choice.
    public var isAvailable: Bool { vq_kernels_table(isa) != nil }
}
