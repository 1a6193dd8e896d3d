import Foundation

/// Bounds on what a model file may ask for. Model files come from strangers: a cfg line `width=1000000` or a
/// checkpoint whose conv claims a million filters must fail with a clear error, not overflow an `Int` (a trap)
/// or make the network allocate terabytes. Every size-like number is checked against `maxDimension` (which
/// keeps the layers' own shape arithmetic far from overflow), sizes are multiplied with overflow checks, and the
/// floats a built network holds (layer outputs, the shared im2col workspace, the weights) are bounded by
/// `maxNetworkBytes`. Given to the loaders as part of `ExecutionOptions` (e.g. a server lowers the memory it grants
/// one model), never process-wide.
public struct ModelLimits: Sendable, Equatable {
    /// Largest channel count, filter count, kernel size, stride, padding, class count, input side or feature-map
    /// side a model may use (real YOLO models stay below 10 000).
    public var maxDimension: Int
    /// Most memory (bytes of Float32) one built network may hold: every layer output, the im2col workspace and
    /// the weights. yolov3-tiny needs 91 MiB at 416×416 and 5.4 GiB at 4096×4096 (8192 is refused); the YOLOv8s
    /// fall checkpoint about 250 MiB at 640×640.
    public var maxNetworkBytes: Int

    public init(maxDimension: Int = 1 << 16, maxNetworkBytes: Int = 8 << 30) {
        self.maxDimension = maxDimension
        self.maxNetworkBytes = maxNetworkBytes
    }
}

/// Overflow-checked products and a running total of the floats a network will hold.
struct NetworkBudget {
    let limits: ModelLimits
    let path: String
    private(set) var floats = 0

    init(limits: ModelLimits, path: String) {
        self.limits = limits
        self.path = path
    }

    /// The product of `factors`, or nil when it overflows `Int` (or a factor is negative).
    static func product(_ factors: Int...) -> Int? { product(factors) }

    static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            p = r
        }
        return p
    }

    var bytes: Int { floats.multipliedReportingOverflow(by: 4).overflow ? Int.max : floats * 4 }

    /// Adds `count` floats (nil = an overflowed product) for `what`; throws once the total passes the limit.
    mutating func reserve(_ count: Int?, for what: @autoclosure () -> String) throws {
        let maxFloats = limits.maxNetworkBytes / 4
        guard let count, count >= 0, count <= maxFloats, floats + count <= maxFloats else {
            let need = count.map { NetworkBudget.size(floats: floats + $0) } ?? "more memory than can be counted"
            throw ModelLoadError(path: path, reason: "\(what()) brings the network memory to \(need), more than the limit of \(NetworkBudget.size(floats: maxFloats)) (ModelLimits.maxNetworkBytes)")
        }
        floats += count
    }

    /// "12.3 GiB", "4.0 MiB", "12 KiB" for that many Float32 values.
    static func size(floats: Int) -> String {
        let bytes = Double(floats) * 4
        if bytes >= Double(1 << 30) { return String(format: "%.1f GiB", bytes / Double(1 << 30)) }
        if bytes >= Double(1 << 20) { return String(format: "%.1f MiB", bytes / Double(1 << 20)) }
        return "\(Int((bytes / 1024).rounded(.up))) KiB"
    }

    /// Checks a size-like number read from the model.
    func dimension(_ value: Int, _ what: @autoclosure () -> String, allowZero: Bool = false) throws {
        guard value >= (allowZero ? 0 : 1), value <= limits.maxDimension else {
            throw ModelLoadError(path: path, reason: "\(what()) is \(value), outside 1...\(limits.maxDimension)")
        }
    }
}
