/// Element type of a stored weight tensor. Raw values are the safetensors dtype names.
public enum WeightDType: String, CaseIterable, Sendable {
    case bool = "BOOL", uint8 = "U8", int8 = "I8", int16 = "I16", uint16 = "U16", float16 = "F16", bfloat16 = "BF16"
    case int32 = "I32", uint32 = "U32", float32 = "F32", float64 = "F64", int64 = "I64", uint64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// True for F16, BF16, F32 and F64.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: return true
        default: return false
        }
    }

    /// The matching torch storage element type; nil for the unsigned 16/32/64-bit types, which have no legacy
    /// `torch.<X>Storage` class (a state-dict `.pt` cannot hold them).
    public var torchDType: TorchDType? {
        switch self {
        case .bool: return .bool
        case .uint8: return .uint8
        case .int8: return .int8
        case .int16: return .int16
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .int32: return .int32
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        case .uint16, .uint32, .uint64: return nil
        }
    }

    /// The dtype of a checkpoint tensor's storage.
    public init(_ torch: TorchDType) {
        switch torch {
        case .float32: self = .float32
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        case .float64: self = .float64
        case .int64: self = .int64
        case .int32: self = .int32
        case .int16: self = .int16
        case .int8: self = .int8
        case .uint8: self = .uint8
        case .bool: self = .bool
        }
    }
}

/// One named tensor as files store it: dtype, shape and the raw element bytes (little-endian, row-major,
/// contiguous). The value both weight writers take and the safetensors reader gives back.
///
/// Nothing is checked at construction; the writers reject a tensor whose `data` is not exactly
/// `product(shape) × dtype.byteSize` bytes, a negative dimension, or a duplicate name.
public struct WeightTensor: Equatable, Sendable {
    public var name: String
    public var dtype: WeightDType
    /// Dimensions, outermost first; `[]` is a scalar (one element).
    public var shape: [Int]
    /// Raw little-endian element bytes.
    public var data: [UInt8]

    public init(name: String, dtype: WeightDType, shape: [Int], data: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// A floating-point tensor from Float32 values, stored as `dtype` (F32, F16 or BF16 with round-to-nearest-even,
    /// or F64). `values.count` must equal the product of `shape`; `dtype` must be a floating-point type.
    public init(name: String, shape: [Int], floats values: [Float], dtype: WeightDType = .float32) {
        precondition(dtype.isFloatingPoint, "WeightTensor(floats:) needs a floating-point dtype, got \(dtype.rawValue)")
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * dtype.byteSize)
        switch dtype {
        case .float32:
            // One copy: the host is little-endian (x86-64, arm64), as the files are.
            bytes = values.withUnsafeBytes { Array($0) }
        case .float16: for v in values { WeightTensor.append(FloatBits.float16(v), to: &bytes) }
        case .bfloat16: for v in values { WeightTensor.append(FloatBits.bfloat16(v), to: &bytes) }
        default: for v in values { WeightTensor.append(Double(v).bitPattern, to: &bytes) }
        }
        self.init(name: name, dtype: dtype, shape: shape, data: bytes)
    }

    /// An I64 tensor (e.g. BatchNorm's `num_batches_tracked`, a scalar: `shape: []`).
    public init(name: String, shape: [Int], int64s values: [Int64]) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for v in values { WeightTensor.append(v, to: &bytes) }
        self.init(name: name, dtype: .int64, shape: shape, data: bytes)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Product of `shape`, or nil when a dimension is negative or the product overflows `Int`.
    public var elementCount: Int? { WeightTensor.elementCount(shape) }

    static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            n = p
        }
        return n
    }

    /// The reason this tensor cannot be written, or nil when it is consistent.
    func inconsistency() -> String? {
        if let d = shape.first(where: { $0 < 0 }) { return "tensor '\(name)' has a negative dimension \(d) in shape \(shape)" }
        guard let count = elementCount else { return "tensor '\(name)': the element count of shape \(shape) overflows" }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == data.count else {
            return "tensor '\(name)' has \(data.count) bytes but shape \(shape) of \(dtype.rawValue) needs \(overflow ? "more than Int.max" : String(bytes))"
        }
        return nil
    }

    /// The elements converted to Float (F16/BF16 exactly, F64 and 64-bit integers rounded), row-major.
    /// Empty when `data` is shorter than one element.
    public func floats() -> [Float] {
        data.withUnsafeBytes { WeightTensor.floats(dtype, $0) }
    }

    /// Decodes the whole elements in `raw` (little-endian `dtype`) to Float.
    static func floats(_ dtype: WeightDType, _ raw: UnsafeRawBufferPointer) -> [Float] {
            let n = raw.count / dtype.byteSize
            return [Float](unsafeUninitializedCapacity: n) { out, initialized in
                func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                    T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
                }
                switch dtype {
                case .bool: for i in 0..<n { out[i] = raw[i] != 0 ? 1 : 0 }
                case .uint8: for i in 0..<n { out[i] = Float(raw[i]) }
                case .int8: for i in 0..<n { out[i] = Float(Int8(bitPattern: raw[i])) }
                case .int16: for i in 0..<n { out[i] = Float(load(Int16.self, i)) }
                case .uint16: for i in 0..<n { out[i] = Float(load(UInt16.self, i)) }
                case .float16 where n > 0 && Int(bitPattern: raw.baseAddress!) % 2 == 0: halfToFloat(raw.baseAddress!, into: out.baseAddress!, count: n)
                case .float16: for i in 0..<n { out[i] = FloatBits.float(fromFloat16: load(UInt16.self, i)) }
                case .bfloat16: for i in 0..<n { out[i] = FloatBits.float(fromBFloat16: load(UInt16.self, i)) }
                case .int32: for i in 0..<n { out[i] = Float(load(Int32.self, i)) }
                case .uint32: for i in 0..<n { out[i] = Float(load(UInt32.self, i)) }
                case .float32: for i in 0..<n { out[i] = Float(bitPattern: load(UInt32.self, i)) }
                case .float64: for i in 0..<n { out[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
                case .int64: for i in 0..<n { out[i] = Float(load(Int64.self, i)) }
                case .uint64: for i in 0..<n { out[i] = Float(load(UInt64.self, i)) }
                }
                initialized = n
            }
    }
}
