/// Element-wise sum of two same-shaped tensors (Bottleneck's shortcut `x + cv2(cv1(x))`, PSA's `x + attn(x)`,
/// Attention's `core + pe(v)`). Backward: both inputs receive dY unchanged. Keeps nothing.
public enum ResidualAdd {
    public static func forward(_ a: BatchTensor, _ b: BatchTensor) -> BatchTensor {
        precondition(a.hasShape(of: b), "ResidualAdd: shapes \(a.shape) and \(b.shape) differ")
        var sum = a
        for i in 0..<sum.count { sum.values[i] += b.values[i] }
        return sum
    }

    /// (dA, dB) = (dY, dY).
    public static func backward(_ dY: BatchTensor) -> (a: BatchTensor, b: BatchTensor) { (dY, dY) }

    /// a += b in place: how the integrator sums the gradients of a tensor read by several layers (C2f's chunks feed
    /// both the next Bottleneck and the concat).
    public static func accumulate(_ b: BatchTensor, into a: inout BatchTensor) {
        precondition(a.hasShape(of: b), "ResidualAdd: shapes \(a.shape) and \(b.shape) differ")
        for i in 0..<a.count { a.values[i] += b.values[i] }
    }
}
