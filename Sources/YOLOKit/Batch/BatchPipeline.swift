import Foundation

/// What became of one input.
public enum BatchOutcome {
    /// Detections, and the decoded image when the outputs need its pixels (annotated copies, crops).
    case success(DetectionResult, image: RGBImage?)
    case failure(BatchFailure)
}

/// A failed input: its path and why (one line, no path prefix).
public struct BatchFailure: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// Set when the input was fine but its outputs could not be written (the run, not the input, failed).
    public let outputError: Error?
    public init(path: String, reason: String, outputError: Error? = nil) {
        self.path = path; self.reason = reason; self.outputError = outputError
    }
    public var description: String { "\(path): \(reason)" }
}

/// Decodes, detects and hands back results in input order, with a bounded number of images in memory.
///
/// Threads:
/// - `prepareThreads` workers read + decode + letterbox images into tensors of their own (`Detector.prepare`),
///   ahead of the network; when per-image files are wanted they also run `render` (draw, encode, write), which
///   takes priority over decoding more images;
/// - one network worker per `Detector` (`--batch`), each taking the lowest-numbered prepared image;
/// - the caller's thread receives the outcomes strictly in input order (`consume`), so aggregate outputs are
///   written in a deterministic order whatever the timing.
/// At most `inFlight` images are between "decoding started" and "handed to consume", so memory does not grow
/// with the number of inputs.
public final class BatchPipeline {
    public struct Configuration {
        public var prepareThreads = 1
        public var inFlight = 4
        /// Keep the decoded image for `render`/`consume` (costs its pixels' memory while in flight).
        public var keepImages = false
        public var options = DetectionOptions()
        public var maxPixels = ImageDecoder.defaultMaxPixels
        public init() {}
    }

    /// Per-image work after detection that may run on any thread and in any order (files named after the input).
    /// Throwing turns the input into a failure.
    public typealias Render = (BatchItem, DetectionResult, RGBImage?) throws -> Void

    private let items: [BatchItem]
    private let detectors: [Detector]
    private let configuration: Configuration
    private let render: Render?

    // Shared state, guarded by `condition`.
    private let condition = NSCondition()
    private var nextToPrepare = 0
    private var tokens: Int
    private var stopping = false
    private var prepared: [Int: (PreparedImage, RGBImage?, Double)] = [:]
    private var toRender: [(Int, DetectionResult, RGBImage?)] = []
    private var done: [Int: BatchOutcome] = [:]
    private var cancelled = false

    public init(items: [BatchItem], detectors: [Detector], configuration: Configuration, render: Render? = nil) {
        precondition(!detectors.isEmpty, "BatchPipeline needs at least one detector")
        self.items = items
        self.detectors = detectors
        self.configuration = configuration
        self.render = render
        tokens = max(1, configuration.inFlight)
    }

    /// Stops handing out results: `run` returns after the outcome being consumed (if any); images in flight
    /// are dropped. Thread-safe (e.g. from a signal handler's queue).
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Runs every item (until `cancel`); `consume(index, outcome)` is called on this thread in index order.
    /// Returns the number of items consumed.
    @discardableResult
    public func run(_ consume: (Int, BatchOutcome) -> Void) -> Int {
        guard !items.isEmpty else { return 0 }
        let group = DispatchGroup()
        func start(_ name: String, _ body: @escaping () -> Void) {
            group.enter()
            let thread = Thread { body(); group.leave() }
            thread.name = name
            thread.stackSize = 4 << 20
            thread.start()
        }
        for i in 0..<max(1, configuration.prepareThreads) { start("yolo-prepare-\(i)", prepareLoop) }
        for (i, detector) in detectors.enumerated() { start("yolo-network-\(i)") { [unowned self] in networkLoop(detector) } }

        var consumed = 0
        for index in items.indices {
            condition.lock()
            while done[index] == nil && !cancelled { condition.wait() }
            if cancelled { condition.unlock(); break }
            let outcome = done.removeValue(forKey: index)!
            tokens += 1
            condition.broadcast()
            condition.unlock()
            consume(index, outcome)
            consumed += 1
        }
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        group.wait()
        return consumed
    }

    private func prepareLoop() {
        condition.lock()
        while !stopping {
            if !toRender.isEmpty {
                let (index, result, image) = toRender.removeFirst()
                condition.unlock()
                let outcome: BatchOutcome
                do {
                    try render?(items[index], result, image)
                    outcome = .success(result, image: image)
                } catch {
                    outcome = .failure(BatchFailure(path: items[index].path, reason: "cannot write outputs: \(error)", outputError: error))
                }
                condition.lock()
                done[index] = outcome
                condition.broadcast()
            } else if nextToPrepare < items.count && tokens > 0 {
                let index = nextToPrepare
                nextToPrepare += 1
                tokens -= 1
                condition.unlock()
                let item = items[index]
                var failure: BatchFailure?
                var ready: (PreparedImage, RGBImage?, Double)?
                if let reason = item.failure {
                    failure = BatchFailure(path: item.path, reason: reason)
                } else {
                    let start = DispatchTime.now()
                    do {
                        let image = try ImageDecoder.decode(contentsOf: item.path, maxPixels: configuration.maxPixels)
                        let decode = milliseconds(since: start)
                        // The network worker picks the detector; every detector has the same model, so any prepares.
                        ready = (detectors[0].prepare(image), configuration.keepImages ? image : nil, decode)
                    } catch let error as ImageDecodeError {
                        failure = BatchFailure(path: item.path, reason: error.reason)
                    } catch {
                        failure = BatchFailure(path: item.path, reason: "\(error)")
                    }
                }
                condition.lock()
                if let failure { done[index] = .failure(failure) } else { prepared[index] = ready! }
                condition.broadcast()
            } else {
                condition.wait()
            }
        }
        condition.unlock()
    }

    private func networkLoop(_ detector: Detector) {
        condition.lock()
        while !stopping {
            guard let index = prepared.keys.min() else { condition.wait(); continue }
            let (input, image, decode) = prepared.removeValue(forKey: index)!
            condition.unlock()
            var result = detector.detect(input, path: items[index].path, options: configuration.options)
            result.times.decode = decode
            condition.lock()
            if render != nil {
                toRender.append((index, result, image))
            } else {
                done[index] = .success(result, image: image)
            }
            condition.broadcast()
        }
        condition.unlock()
    }
}
