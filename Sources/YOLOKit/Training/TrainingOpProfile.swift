import Foundation

/// Wall time of a training graph's ops, summed per op kind ("conv 3×3/2", "batchNorm", "activation", …) over the
/// forward and backward passes it is handed to (`TrainingGraph.forward(…, profile:)`, `backward(…, profile:)`):
/// what `yolo bench --train` reports per kind. The caller's own object, for one pass at a time.
public final class TrainingOpProfile {
    public struct Entry: Sendable, Equatable {
        public let kind: String
        /// Ops of this kind on the tape.
        public var count: Int
        public var forwardSeconds: Double
        public var backwardSeconds: Double
    }

    /// Kinds in the order first seen (the tape's order).
    public private(set) var entries: [Entry] = []
    private var slotOfKind: [String: Int] = [:]
    private var opsSeen: Set<Int> = []

    public init() {}

    /// Adds the time since `start` (DispatchTime nanoseconds) to the kind of op `index`.
    func record(_ op: TrainingGraphOp, index: Int, backward: Bool, since start: UInt64) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let kind = op.kindName
        let slot: Int
        if let existing = slotOfKind[kind] { slot = existing } else {
            slot = entries.count
            slotOfKind[kind] = slot
            entries.append(Entry(kind: kind, count: 0, forwardSeconds: 0, backwardSeconds: 0))
        }
        if opsSeen.insert(index).inserted { entries[slot].count += 1 }
        if backward { entries[slot].backwardSeconds += seconds } else { entries[slot].forwardSeconds += seconds }
    }
}

extension TrainingGraphOp {
    /// The op's kind for profiles; convs by kernel, stride and whether depthwise ("conv 3×3/2", "dwconv 3×3/1").
    var kindName: String {
        switch self {
        case let .conv(conv, _, _, _, _):
            let depthwise = conv.groups > 1 && conv.groups == conv.inChannels
            return "\(depthwise ? "dwconv" : "conv") \(conv.kernel)×\(conv.kernel)/\(conv.stride)"
        case .batchNorm(_, _, _, _, _, let training, _, _): return training ? "batchNorm" : "batchNorm (eval)"
        case .activation: return "activation"
        case .add: return "add"
        case .concat: return "concat"
        case .slice: return "slice"
        case .maxPool: return "maxPool"
        case .upsample: return "upsample"
        case .attention: return "attention"
        case .attentionValues: return "attentionValues"
        }
    }
}
