/// One aligned block of memory, allocated once, holding everything the engine touches per window.
///
/// Layout (as TensorFlow Lite Micro's arena: planned, reused bytes at the head; persistent data
/// at the tail):
///
///     0                      activationBytes                          totalBytes
///     | activations (planned by MemoryPlanner,  | weights (packed GEMM panels, norms,
///     |  reused between ops)                    |  biases, positional embedding)
///
/// Final class: owns the allocation and frees it in `deinit`. Pointers handed out by `floats(at:count:)`
/// are valid for the arena's lifetime only; the engine keeps the arena alive for as long as it
/// keeps pointers. Not thread-safe: one arena per interpreter, one interpreter per thread.
public final class Arena {
    public let activationBytes: Int
    public let persistentBytes: Int
    public var totalBytes: Int { activationBytes + persistentBytes }
    public let alignment: Int
    private let base: UnsafeMutableRawPointer

    /// Allocates `activationBytes + persistentBytes` bytes at `alignment`, zero-filled.
    public init(activationBytes: Int, persistentBytes: Int, alignment: Int = 64) {
        precondition(activationBytes % alignment == 0 && persistentBytes >= 0)
        self.activationBytes = activationBytes
        self.persistentBytes = persistentBytes
        self.alignment = alignment
        let total = max(activationBytes + persistentBytes, alignment)
        base = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: total)
    }

    deinit { base.deallocate() }

    /// `count` floats at byte `offset` from the arena's start (offset must keep 4-byte alignment).
    func floats(at offset: Int, count: Int) -> UnsafeMutableBufferPointer<Float> {
        elements(Float.self, at: offset, count: count)
    }

    /// `count` values of `type` at byte `offset` (aligned for the type, inside the arena).
    func elements<T>(_ type: T.Type, at offset: Int, count: Int) -> UnsafeMutableBufferPointer<T> {
        precondition(offset % MemoryLayout<T>.alignment == 0 && offset + count * MemoryLayout<T>.stride <= totalBytes)
        return UnsafeMutableBufferPointer(start: (base + offset).bindMemory(to: T.self, capacity: count), count: count)
    }

    /// The raw address at byte `offset`.
    func address(at offset: Int) -> UnsafeMutableRawPointer {
        precondition(offset <= totalBytes)
        return base + offset
    }
}

/// Hands out aligned slices of the arena's persistent region in order (a bump allocator used
/// once, at prepare time).
struct PersistentAllocator {
    private(set) var used = 0
    let alignment: Int

    init(alignment: Int) { self.alignment = alignment }

    /// Reserves `bytes` bytes; returns the byte offset within the persistent region.
    mutating func reserve(bytes: Int) -> Int {
        let offset = used
        used += (bytes + alignment - 1) & ~(alignment - 1)
        return offset
    }
}
