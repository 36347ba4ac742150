#if _endian(big)
#error("VentriqModel reads safetensors data (little-endian) in place: big-endian hosts are not supported")
#endif

/// The element types Ventriq reads from a safetensors file, spelled as in the header's `dtype`.
///
/// safetensors defines more (U16, U32, U64, F8_E4M3, F8_E5M2, ...); a file that uses one of them
/// is rejected with ``ModelFileError/unknownDType(file:tensor:dtype:offset:)`` rather than read
/// with a guessed layout.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// Whether `SafeTensorsFile.floats(_:)` converts this type (F64, F32, F16, BF16).
    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16: return true
        default: return false
        }
    }

    /// Rank of the type in the reference safetensors writer's ordering (its `Dtype` enum order:
    /// BOOL < U8 < I8 < I16 < F16 < BF16 < I32 < F32 < F64 < I64). The writer lays tensors out by
    /// descending rank, then by name, so that every tensor starts at a multiple of its element
    /// size without holes, and so that files match `safetensors.numpy.save_file` byte for byte.
    var writerRank: Int {
        switch self {
        case .bool: return 0
        case .u8: return 1
        case .i8: return 2
        case .i16: return 5
        case .f16: return 7
        case .bf16: return 8
        case .i32: return 9
        case .f32: return 11
        case .f64: return 12
        case .i64: return 13
        }
    }
}

extension DType: CustomStringConvertible {
    public var description: String { rawValue }
}

/// One tensor's entry in the header, validated against the file.
public struct TensorInfo: Sendable, Equatable {
    /// The header key.
    public let name: String
    public let dtype: DType
    /// Row-major dimensions; `[]` is a scalar (one element), a 0 anywhere makes an empty tensor.
    public let shape: [Int]
    /// Product of `shape` (1 for a scalar).
    public let elementCount: Int
    /// Absolute byte offsets of the tensor's data in the file (header length prefix and header
    /// included), so `byteRange.count == elementCount * dtype.byteSize`.
    public let byteRange: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], elementCount: Int, byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.elementCount = elementCount
        self.byteRange = byteRange
    }

    /// Number of data bytes.
    public var byteCount: Int { byteRange.count }
}

/// Product of `shape` and the byte count for `dtype`, or nil when a dimension is negative or the
/// product overflows `Int`.
func checkedByteCount(shape: [Int], dtype: DType) -> (elements: Int, bytes: Int)? {
    var elements = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
        guard !overflow else { return nil }
        elements = product
    }
    let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else { return nil }
    return (elements, bytes)
}
