/// What a training run reports while it runs (the caller prints it; the library never does).
public enum TrainingEvent: Sendable {
    /// A setup message ("Transferred …", "AdamW(lr=…)", dataset counts).
    case info(String)
    /// An image or label that is left out, or another problem that does not stop the run.
    case warning(String)
    /// After each batch: the running mean of the epoch's losses so far, the batch's instances and image size.
    case batch(BatchProgress)
    /// After each epoch's validation: its results.csv row and whether it is the best so far.
    case epoch(EpochResult, isBest: Bool)
    /// Validation numbers per class after an epoch (what Ultralytics' validator prints).
    case validation(ValidationReport)

    public struct BatchProgress: Sendable {
        public var epoch: Int
        public var epochs: Int
        /// 1-based batch number and batches per epoch.
        public var batch: Int
        public var batches: Int
        public var box: Double, cls: Double, dfl: Double
        public var instances: Int
        public var imageSize: Int
        public var seconds: Double
        public var residentBytes: Int
    }
}
