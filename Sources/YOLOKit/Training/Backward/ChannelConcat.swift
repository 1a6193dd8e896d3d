/// Concatenation along channels (`torch.cat(dim=1)`: C2f / C3k2 / SPPF / the neck's Concat) and its inverse, the
/// channel split (`chunk(2, 1)` / `split(.., 1)` in C2f and C3k2, PSA's `split((c, c), 1)`). Each is the other's
/// backward: the gradient of a concat is the split of dY into the inputs' channel counts, the gradient of a split
/// is the concat of the parts' gradients. Keeps nothing but the channel counts.
public enum ChannelConcat {
    /// [N, ΣCᵢ, H, W] from inputs [N, Cᵢ, H, W] (same N, H, W), in order.
    public static func forward(_ inputs: [BatchTensor]) -> BatchTensor {
        precondition(!inputs.isEmpty, "ChannelConcat: no inputs")
        let first = inputs[0]
        for t in inputs {
            precondition(t.batch == first.batch && t.height == first.height && t.width == first.width,
                         "ChannelConcat: input \(t.shape) does not match \(first.shape) outside the channels")
        }
        let channels = inputs.reduce(0) { $0 + $1.channels }
        var values = [Float]()
        values.reserveCapacity(first.batch * channels * first.planeSize)
        for n in 0..<first.batch {
            for t in inputs { values.append(contentsOf: t.values[(n * t.imageSize)..<((n + 1) * t.imageSize)]) }
        }
        return BatchTensor(batch: first.batch, channels: channels, height: first.height, width: first.width, values: values)
    }

    /// Backward of `forward`: dY [N, ΣCᵢ, H, W] split into [N, Cᵢ, H, W].
    public static func backward(_ dY: BatchTensor, channels: [Int]) -> [BatchTensor] { split(dY, channels: channels) }

    /// Splits x [N, C, H, W] into consecutive channel groups of the given sizes (Σ = C).
    public static func split(_ x: BatchTensor, channels: [Int]) -> [BatchTensor] {
        precondition(channels.allSatisfy { $0 >= 0 } && channels.reduce(0, +) == x.channels,
                     "ChannelConcat: split sizes \(channels) do not add up to \(x.channels) channels")
        var start = 0
        return channels.map { count in
            var values = [Float]()
            values.reserveCapacity(x.batch * count * x.planeSize)
            for n in 0..<x.batch {
                let lo = n * x.imageSize + start * x.planeSize
                values.append(contentsOf: x.values[lo..<(lo + count * x.planeSize)])
            }
            start += count
            return BatchTensor(batch: x.batch, channels: count, height: x.height, width: x.width, values: values)
        }
    }

    /// `torch.chunk(parts, dim=1)`'s sizes: chunks of ⌈C/parts⌉ channels, the last one smaller (and fewer chunks
    /// when C is small, as PyTorch). C2f's `chunk(2)` on an even C gives two halves.
    public static func chunkSizes(channels: Int, parts: Int) -> [Int] {
        precondition(parts > 0, "ChannelConcat: chunk into \(parts) parts")
        let size = max(1, (channels + parts - 1) / parts)
        return stride(from: 0, to: channels, by: size).map { min(size, channels - $0) }
    }

    /// `x.chunk(parts, 1)`.
    public static func chunk(_ x: BatchTensor, parts: Int) -> [BatchTensor] {
        split(x, channels: chunkSizes(channels: x.channels, parts: parts))
    }

    /// Backward of `split` / `chunk`: the parts' gradients concatenated back.
    public static func splitBackward(_ dParts: [BatchTensor]) -> BatchTensor { forward(dParts) }
}
