/// One step of the training graph's tape: a kernel of Training/Backward with the tensors it reads and writes
/// (indices into the forward's tensor list; 0 is the input batch) and the store indices of its parameters.
/// The tape is in forward order; backward walks it in reverse, adding each op's input gradients into the
/// gradients of the tensors it read, so a tensor read by several ops (C2f's cv1 output, the neck's skip
/// connections, PSA's residuals) receives the sum of its consumers' gradients.
enum TrainingGraphOp: Sendable {
    /// nn.Conv2d; `bias` nil for the Conv modules' bias-free convs.
    case conv(Conv2dTraining, weight: Int, bias: Int?, input: Int, output: Int)
    /// BatchNorm2d; `training` false for the frozen layers' BatchNorms (Ultralytics puts them in eval mode).
    /// `mean` / `variance` index the store's buffers.
    case batchNorm(BatchNorm2dTraining, gamma: Int, beta: Int, mean: Int, variance: Int, training: Bool, input: Int, output: Int)
    case activation(ActivationTraining, input: Int, output: Int)
    case add(Int, Int, output: Int)
    case concat([Int], output: Int)
    /// Channels start..<start+count of the input (`chunk` / `split` along channels).
    case slice(input: Int, start: Int, count: Int, output: Int)
    case maxPool(MaxPool2dTraining, input: Int, output: Int)
    case upsample(NearestUpsampleTraining, input: Int, output: Int)
    /// Attention's core from qkv to the stacked heads' outputs.
    case attention(AttentionCoreTraining, qkv: Int, output: Int)
    /// Attention's v, laid out as [B, heads·headDim, H, W] (pe's input), from qkv.
    case attentionValues(AttentionCoreTraining, qkv: Int, output: Int)

    var output: Int {
        switch self {
        case .conv(_, _, _, _, let o), .batchNorm(_, _, _, _, _, _, _, let o), .activation(_, _, let o), .add(_, _, let o),
             .concat(_, let o), .slice(_, _, _, let o), .maxPool(_, _, let o), .upsample(_, _, let o),
             .attention(_, _, let o), .attentionValues(_, _, let o):
            return o
        }
    }

    var inputs: [Int] {
        switch self {
        case .conv(_, _, _, let i, _), .batchNorm(_, _, _, _, _, _, let i, _), .activation(_, let i, _), .slice(let i, _, _, _),
             .maxPool(_, let i, _), .upsample(_, let i, _), .attention(_, let i, _), .attentionValues(_, let i, _):
            return [i]
        case .add(let a, let b, _): return [a, b]
        case .concat(let parts, _): return parts
        }
    }
}

/// What an op's forward keeps for its backward.
enum TrainingGraphOpContext: Sendable {
    case none
    case conv(Conv2dTraining.Context)
    case batchNorm(BatchNorm2dTraining.Context)
    /// Eval-mode BatchNorm: the running statistics it normalised with.
    case batchNormEval(BatchNorm2dTraining.RunningStatistics)
    case activation(ActivationTraining.Context)
    /// An activation whose input is a training-mode BatchNorm's output: nothing kept, the input is rebuilt in the
    /// backward pass as γ·x̂ + β from that BatchNorm's context (op index), which saves one tensor per Conv.
    case activationOfBatchNorm(Int)
    case maxPool(MaxPool2dTraining.Context)
    case attention(AttentionCoreTraining.Context)
    /// The input's shape, for the ops whose backward scatters into it (slice, attention values).
    case inputShape(batch: Int, channels: Int, height: Int, width: Int)
    /// Channel counts of the concatenated inputs.
    case concat([Int])
}
