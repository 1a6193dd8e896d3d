/// Where the elements of a module tree's `TorchTensor`s live: a `.pt` archive (`TorchCheckpoint`) or an exported
/// `.safetensors` file (`SafetensorsTensorSource`). The Ultralytics graph builder reads every weight through this,
/// so one module tree builds the same network from either file.
protocol TorchTensorSource: AnyObject {
    /// The file the tensors come from, for error messages.
    var path: String { get }
    /// The tensor's elements as Float, row-major.
    func floats(_ tensor: TorchTensor) throws -> [Float]
    /// The elements of an integer tensor.
    func int64s(_ tensor: TorchTensor) throws -> [Int64]
}

extension TorchCheckpoint: TorchTensorSource {}
