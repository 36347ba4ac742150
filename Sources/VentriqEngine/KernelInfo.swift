import CVentriqKernels

/// Which kernel implementation the process runs (chosen once, from the CPU's features).
public enum KernelInfo {
    /// "avx512", "avx2", "neon" or "reference".
    public static var isaName: String { String(cString: vq_kernels_isa_name()) }
}
