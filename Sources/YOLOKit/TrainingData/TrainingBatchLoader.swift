import Foundation

/// Makes the training batches of each epoch: the samples shuffled by (seed, epoch), cut into batches (the last one
/// may be smaller, as Ultralytics' loader keeps it), each image decoded, resized and augmented on `workers` threads
/// (0: on the calling thread), with one generator per (seed, epoch, sample) so that the batches are the same for
/// any worker count. `prefetch` prepares the next batch while the caller trains on the current one.
public final class TrainingBatchLoader: @unchecked Sendable {
    public let samples: [TrainingSample]
    public let augmentation: TrainingAugmentation
    public let workers: Int
    public let seed: UInt64
    public let maxPixels: Int
    /// Decoded, resized images by sample (filled on first use when caching).
    private var cache: [Int: LabelledImage] = [:]
    private let cacheLock = NSLock()
    private let caching: Bool
    private let queue = DispatchQueue(label: "yolo-train-prefetch")

    public init(samples: [TrainingSample], augmentation: TrainingAugmentation, workers: Int, seed: UInt64, cacheImages: Bool,
                maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.samples = samples
        self.augmentation = augmentation
        self.workers = max(0, workers)
        self.seed = seed
        self.caching = cacheImages
        self.maxPixels = maxPixels
    }

    /// The epoch's order of samples cut into batches of `batchSize`.
    public func batches(epoch: Int, batchSize: Int) -> [[Int]] {
        var random = SplitMix64(seed: seed, keys: 1, UInt64(epoch))
        let order = random.permutation(samples.count)
        return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    }

    /// Sample `index` decoded and resized (long side to the image size), from the cache when it holds it.
    public func loadResized(_ index: Int) throws -> LabelledImage {
        if caching {
            cacheLock.lock()
            let hit = cache[index]
            cacheLock.unlock()
            if let hit { return hit }
        }
        let sample = samples[index]
        let image = try ImageDecoder.decode(contentsOf: sample.path, maxPixels: maxPixels)
        let item = TrainingImageLoading.load(image, labels: sample.labels, imageSize: augmentation.imageSize)
        if caching {
            cacheLock.lock()
            cache[index] = item
            cacheLock.unlock()
        }
        return item
    }

    /// The batch of `indices` for `epoch`.
    public func make(_ indices: [Int], epoch: Int, mosaicAllowed: Bool) -> TrainingBatch {
        var results = [Result<LabelledImage, Error>?](repeating: nil, count: indices.count)
        let lock = NSLock()
        let work = { (j: Int) in
            var random = SplitMix64(seed: self.seed, keys: 2, UInt64(epoch), UInt64(indices[j]))
            let result = Result { try self.augmentation.make(index: indices[j], count: self.samples.count, mosaicAllowed: mosaicAllowed,
                                                             random: &random, load: self.loadResized) }
            lock.lock(); results[j] = result; lock.unlock()
        }
        if workers <= 1 || indices.count <= 1 {
            for j in indices.indices { work(j) }
        } else {
            let lanes = min(workers, indices.count)
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                for j in stride(from: lane, to: indices.count, by: lanes) { work(j) }
            }
        }
        var items: [LabelledImage] = [], failures: [String] = []
        for (j, result) in results.enumerated() {
            switch result! {
            case .success(let item): items.append(item)
            case .failure(let error): failures.append("\(samples[indices[j]].path): \(error)")
            }
        }
        return TrainingBatch(items: items, size: augmentation.imageSize, failures: failures)
    }

    /// Starts making a batch on the loader's own thread; `wait()` on the result gives it.
    public func prefetch(_ indices: [Int], epoch: Int, mosaicAllowed: Bool) -> PendingBatch {
        let pending = PendingBatch()
        queue.async { pending.fulfil(self.make(indices, epoch: epoch, mosaicAllowed: mosaicAllowed)) }
        return pending
    }

    /// A batch being made on another thread.
    public final class PendingBatch: @unchecked Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private var batch: TrainingBatch?
        func fulfil(_ b: TrainingBatch) { batch = b; semaphore.signal() }
        public func wait() -> TrainingBatch { semaphore.wait(); return batch! }
    }
}
