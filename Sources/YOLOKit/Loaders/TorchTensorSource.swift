/// Where the elements of a module tree's `TorchTensor`s live: a `.pt` archive (`TorchCheckpoint`) or an exported
/// `.safetensors` file (`SafetensorsTensorSource`). The Ultralytics graph builder reads every weight through this,
/// so one module tree builds the same network from either file.
protocol TorchTensorSource: AnyObject {
    /// The file the tensors come from, for error messages.
    var path: String { get }
    /// The tensor's elements as Float, row-major.
    func floats(_ tensor: TorchTensor) throws -> [Float]
    /// The same elements written into `target` (tensor.count floats): a large weight goes straight into the
    /// buffer the layer keeps, with no array in between.
    func floats(_ tensor: TorchTensor, into target: UnsafeMutablePointer<Float>) throws
    /// The elements of an integer tensor.
    func int64s(_ tensor: TorchTensor) throws -> [Int64]
}

extension TorchTensorSource {
    func floats(_ tensor: TorchTensor, into target: UnsafeMutablePointer<Float>) throws {
        let values = try floats(tensor)
        target.update(from: values, count: min(values.count, tensor.count))
    }
}

extension TorchCheckpoint: TorchTensorSource {}
