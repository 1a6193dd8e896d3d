/// The arithmetic a model's convolutions run in, chosen at run time (`ExecutionOptions.precision`, `--precision`).
/// An int8 model is a file of its own (`yolo quantize`), not a run-time choice.
public enum Precision: String, CaseIterable, Sendable {
    /// As stored: fp32 weights and activations.
    case fp32
    /// bf16 weights and activations, fp32 sums (`BF16DetectionModel`); fp32 models only.
    case bf16
}
