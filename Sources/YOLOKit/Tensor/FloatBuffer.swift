import Foundation

/// A fixed-size, 64-byte aligned, zeroed Float buffer. Networks allocate one per layer output (and one shared
/// im2col workspace) when they are built, so a forward pass allocates nothing.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let allocation: UnsafeMutableRawPointer

    /// calloc, not allocate + fill: large buffers come as untouched zero pages, so a buffer that is dropped before
    /// it is written (layer outputs replaced by `Network.shareBuffers`) never counts in the resident memory.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative size")
        self.count = count
        guard let raw = calloc(max(count, 1) * MemoryLayout<Float>.stride + 64, 1) else {
            fatalError("FloatBuffer: out of memory for \(count) floats")
        }
        allocation = raw
        let aligned = (Int(bitPattern: raw) + 63) & ~63
        pointer = UnsafeMutableRawPointer(bitPattern: aligned)!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(allocation) }

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
