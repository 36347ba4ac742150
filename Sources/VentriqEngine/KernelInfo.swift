import CVentriqKernels

/// Which kernels an interpreter binds at prepare time.
public enum KernelChoice: String, Sendable, CaseIterable {
    /// The widest instruction set this CPU runs (AVX-512F, else AVX2+FMA, else NEON, else scalar).
    case automatic = "auto"
    /// The portable scalar reference kernels.
    case reference
    case avx2
    case avx512
    case neon

    var isa: Int32 {
        switch self {
        case .automatic: return VQ_ISA_AUTO
        case .reference: return VQ_ISA_REFERENCE
        case .avx2: return VQ_ISA_AVX2
        case .avx512: return VQ_ISA_AVX512
        case .neon: return VQ_ISA_NEON
        }
    }

    /// Whether this build and CPU can run the choice.
    public var isAvailable: Bool { vq_kernels_table(isa) != nil }
}

/// Which kernel implementation the process-wide entry points run.
public enum KernelInfo {
    /// "avx512", "avx2", "neon" or "reference".
    public static var isaName: String { String(cString: vq_kernels_isa_name()) }
}
