import Foundation

/// A fixed-size, 64-byte aligned, zeroed Float buffer. Networks allocate one per layer output (and one shared
/// im2col workspace) when they are built, so a forward pass allocates nothing.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let allocation: UnsafeMutableRawPointer

    /// Zero pages that are not resident until written: a buffer dropped before it is written (layer outputs replaced
    /// by `Network.shareBuffers`) never counts in the resident memory. Large buffers are their own anonymous mapping
    /// (returned to the system when freed); through calloc, a freed large block raises glibc's mmap threshold, and
    /// later blocks come from the heap, zeroed by writing them — resident whether used or not.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative size")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= FloatBuffer.mappingThreshold {
            // 64 bytes of zeros past the end, as the calloc block below has: vector loops may read a partial last line.
            let length = (bytes + 64 + 4095) & ~4095
            guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("FloatBuffer: out of memory for \(count) floats")
            }
            allocation = raw
            mappedLength = length
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))  // page-aligned
            return
        }
        guard let raw = calloc(bytes + 64, 1) else {
            fatalError("FloatBuffer: out of memory for \(count) floats")
        }
        allocation = raw
        mappedLength = 0
        let aligned = (Int(bitPattern: raw) + 63) & ~63
        pointer = UnsafeMutableRawPointer(bitPattern: aligned)!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Buffers of at least this many bytes are mapped (`init(count:)`).
    static let mappingThreshold = 256 * 1024
    /// The mapping's length, or 0 for a calloc block.
    private let mappedLength: Int

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if mappedLength > 0 { munmap(allocation, mappedLength) } else { free(allocation) }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// A layer output: a shape and the buffer that holds it.
public struct FeatureMap: @unchecked Sendable {
    public let shape: TensorShape
    public let buffer: FloatBuffer

    public init(shape: TensorShape) {
        self.shape = shape
        buffer = FloatBuffer(count: shape.count)
    }

    /// `shape` at the start of `buffer`, which may be larger (buffers that layers share: `Network.shareBuffers`).
    public init(shape: TensorShape, buffer: FloatBuffer) {
        precondition(buffer.count >= shape.count, "FeatureMap: buffer of \(buffer.count) floats for shape \(shape)")
        self.shape = shape
        self.buffer = buffer
    }

    public init(shape: TensorShape, values: [Float]) {
        precondition(values.count == shape.count, "FeatureMap: \(values.count) values for shape \(shape)")
        self.shape = shape
        buffer = FloatBuffer(values)
    }

    public var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
    /// Channel `c` as a pointer to its H·W plane.
    public func plane(_ c: Int) -> UnsafeMutablePointer<Float> { buffer.pointer + c * shape.planeSize }
}
