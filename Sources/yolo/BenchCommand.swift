import ArgumentParser
import Foundation
import YOLOKit

enum BenchBackend: String, ExpressibleByArgument, CaseIterable {
    case blas, swift, both
    var choices: [BackendChoice] { self == .both ? [.blas, .swift] : [BackendChoice(rawValue: rawValue)!] }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure latency per stage and per layer, for the OpenBLAS and the pure-Swift GEMM backends.",
        discussion: """
        After warm-up, runs detection --runs times per backend and reports min / median / max per stage \
        (decode, preprocess, forward, postprocess); then profiles --runs forward passes layer by layer: for every \
        convolution its GEMM shape (M, N, K), the GEMM's own time and GFLOP/s, the whole layer's time and its share \
        of the forward pass. The machine's peak is measured as a large square sgemm (--peak-size), so each figure \
        reads as a fraction of what the CPU can do. --format json prints the same figures as one object.
        """
    )

    @Option(help: "Model name or path (as for detect).")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "Image to run on (default: Models/samples/bus.jpg).")
    var image: String?

    @Option(help: "Network input size (multiple of 32); default: the model's own.")
    var imgsz: Int?

    @Option(help: "GEMM backend(s) to measure: blas, swift or both.")
    var backend: BenchBackend = .both

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed runs per backend (after --warmup untimed ones), for the stages and again for the layers.")
    var runs: Int = 20

    @Option(help: "Untimed warm-up runs per backend.")
    var warmup: Int = 3

    @Option(name: .customLong("peak-size"), help: "Size of the square sgemm that measures the machine's peak (0: skip).")
    var peakSize: Int = 2048

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "Per-layer clock: wall, or cpu (the thread's CPU time, --threads 1 only: steadier on a busy machine).")
    var clock: BenchClock = .wall

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive (got \(runs))") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative (got \(warmup))") }
        guard threads > 0 else { throw ValidationError("--threads must be positive (got \(threads))") }
        guard clock == .wall || threads == 1 else { throw ValidationError("--clock cpu needs --threads 1 (CPU time of one thread)") }
        guard (0...16384).contains(peakSize) else { throw ValidationError("--peak-size must be between 0 and 16384 (got \(peakSize))") }
        if let imgsz, imgsz < 32 || imgsz > 8192 { throw ValidationError("--imgsz must be between 32 and 8192 (got \(imgsz))") }
    }

    func run() throws {
        let detector: Detector
        let path: String
        let decoded: RGBImage
        do {
            detector = try Detector(model: model, threads: threads, imageSize: imgsz.map { ($0 + 31) / 32 * 32 })
            path = try image ?? ModelRegistry.samplePhoto("bus.jpg")
            decoded = try ImageDecoder.decode(contentsOf: path)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        var results: [BackendResult] = []
        for choice in backend.choices {
            detector.use(choice)
            results.append(try measure(detector, choice: choice, path: path, image: decoded))
        }
        let network = detector.model.preprocess(decoded).0
        let shapes = gemmShapes(network)
        let shapeTimes = timeShapes(shapes.flatMap { $0 }, backends: backend.choices, repeats: max(3, min(runs, 10)))
        network.gemm = detector.gemm
        var peaks: [(BackendChoice, Double)] = []
        if peakSize > 0 {
            for choice in backend.choices { peaks.append((choice, squareSGEMM(choice.makeGEMM(threads: threads), size: peakSize))) }
        }
        let report = Report(model: detector.model.summary, image: path, imageSize: (decoded.width, decoded.height), network: network,
                            threads: threads, runs: runs, warmup: warmup, peakSize: peakSize, peaks: peaks, backends: results,
                            shapes: shapes, shapeTimes: shapeTimes, clock: clock)
        switch format {
        case .text: print(report.text)
        case .json: print(report.json.serialized())
        }
    }

    /// Stage latencies through `Detector.detect` (the real path), then a per-layer profile of the same network.
    func measure(_ detector: Detector, choice: BackendChoice, path: String, image: RGBImage) throws -> BackendResult {
        for _ in 0..<warmup { _ = try detector.detect(imageAt: path) }
        var stages: [StageTimes] = []
        for _ in 0..<runs { stages.append(try detector.detect(imageAt: path).times) }

        let (network, _) = detector.model.preprocess(image)
        network.gemm = detector.gemm
        network.threads = threads
        OpenBLAS.setThreads(threads)
        let count = network.nodes.count
        var layerMs = [[Double]](repeating: [], count: count)
        var totals: [Double] = []
        for run in 0..<(runs + 1) {  // the first pass warms the profile (caches, page faults), untimed
            var total = 0.0
            var cpuStart = threadCPUMilliseconds()
            network.forward { index, seconds in
                let cpuNow = threadCPUMilliseconds()
                defer { cpuStart = threadCPUMilliseconds() }
                guard run > 0 else { return }
                let ms = clock == .cpu ? cpuNow - cpuStart : seconds * 1e3
                layerMs[index].append(ms)
                total += ms
            }
            if run > 0 { totals.append(total) }
        }
        let layers = (0..<count).map { i in LayerTiming(ms: median(layerMs[i])) }
        let kernel = (detector.gemm as? SwiftGEMM)?.kernel.rawValue
        return BackendResult(backend: choice, kernel: kernel, stages: stages, profileTotalMs: median(totals), layers: layers,
                             peakRSSMB: peakResidentMB())
    }

    /// The GEMM calls of every node (shape and count), recorded from one forward pass.
    func gemmShapes(_ network: Network) -> [[GEMMShape]] {
        let recorder = RecordingGEMM()
        network.gemm = recorder
        network.threads = threads
        var shapes = [[GEMMShape]](repeating: [], count: network.nodes.count)
        network.forward { index, _ in shapes[index] = recorder.take() }
        return shapes
    }

    /// Each distinct GEMM shape timed alone on each backend (random operands; backends interleaved so load
    /// elsewhere on the machine hits both alike); the minimum of `repeats` runs, in ms.
    func timeShapes(_ shapes: [GEMMShape], backends: [BackendChoice], repeats: Int) -> [GEMMShape: [BackendChoice: Double]] {
        OpenBLAS.setThreads(threads)
        var result: [GEMMShape: [BackendChoice: Double]] = [:]
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        for shape in Set(shapes).sorted(by: { ($0.m, $0.n, $0.k) < ($1.m, $1.n, $1.k) }) {
            let a = FloatBuffer(count: shape.m * shape.k), b = FloatBuffer(count: shape.k * shape.n), c = FloatBuffer(count: shape.m * shape.n)
            for buffer in [a, b] {
                for i in 0..<buffer.count { rng = rng &* 6364136223846793005 &+ 1442695040888963407; buffer.pointer[i] = Float(Int32(truncatingIfNeeded: rng >> 33)) / 2_147_483_648 }
            }
            var best = [BackendChoice: Double]()
            let gemms = backends.map { ($0, $0.makeGEMM(threads: threads)) }
            for r in 0..<(repeats + 1) {
                for (choice, gemm) in gemms {
                    let start = DispatchTime.now().uptimeNanoseconds, cpuStart = threadCPUMilliseconds()
                    if shape.transposedA {
                        gemm.sgemmTransposingA(m: shape.m, n: shape.n, k: shape.k, alpha: 1, a: a.pointer, lda: shape.m, b: b.pointer,
                                               ldb: shape.n, beta: 0, c: c.pointer, ldc: shape.n)
                    } else {
                        gemm.sgemm(m: shape.m, n: shape.n, k: shape.k, alpha: 1, a: a.pointer, lda: shape.k, b: b.pointer, ldb: shape.n,
                                   beta: 0, c: c.pointer, ldc: shape.n)
                    }
                    let ms = clock == .cpu ? threadCPUMilliseconds() - cpuStart : Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    if r > 0 { best[choice] = min(best[choice] ?? .infinity, ms) }  // r = 0 warms up
                }
            }
            result[shape] = best
        }
        return result
    }

    /// GFLOP/s of the best of 3 `size`³ sgemms (after one warm-up), the machine's practical peak.
    func squareSGEMM(_ gemm: any GEMMBackend, size n: Int) -> Double {
        OpenBLAS.setThreads(threads)
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.25 - 0.75; b.pointer[i] = Float(i % 5) * 0.5 - 1 }
        var best = Double.infinity
        for r in 0..<4 {
            let start = DispatchTime.now().uptimeNanoseconds
            gemm.sgemm(m: n, n: n, k: n, alpha: 1, a: a.pointer, lda: n, b: b.pointer, ldb: n, beta: 0, c: c.pointer, ldc: n)
            if r > 0 { best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}

enum BenchClock: String, ExpressibleByArgument, CaseIterable { case wall, cpu }

/// CPU time of the calling thread (ms).
func threadCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

/// Records the GEMM shape of every call during one forward pass (computing with OpenBLAS): a convolution
/// counts as its per-group GEMMs, whether or not the backend would fuse it.
final class RecordingGEMM: GEMMBackend, @unchecked Sendable {
    private var calls: [GEMMShape] = []
    private var inConvolution = false
    private let blas = OpenBLASGEMM()
    var name: String { "record" }

    func sgemm(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if !inConvolution { calls.append(GEMMShape(m: m, n: n, k: k)) }
        blas.sgemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    func sgemmTransposingA(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if !inConvolution { calls.append(GEMMShape(m: m, n: n, k: k, transposedA: true)) }
        blas.sgemmTransposingA(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    func convolution(_ conv: ConvolutionGEMM) {
        if let w = conv.winograd { return conv.runWinograd(self, w) }  // its 16 or 36 GEMMs per batch are recorded as they run
        let (m, n, k) = conv.gemmShape
        calls += Array(repeating: GEMMShape(m: m, n: n, k: k), count: conv.groups)
        inConvolution = true
        conv.runUnfused(self)
        inConvolution = false
    }

    /// The calls since the last `take`.
    func take() -> [GEMMShape] {
        defer { calls.removeAll(keepingCapacity: true) }
        return calls
    }
}

struct GEMMShape: Hashable {
    let m: Int, n: Int, k: Int
    var transposedA = false  // Aᵀ·B (Winograd's transposed layout for small maps)
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

struct LayerTiming {
    let ms: Double  // the whole layer in the forward pass (im2col, GEMM, bias + activation), median
}

struct BackendResult {
    let backend: BackendChoice
    let kernel: String?
    let stages: [StageTimes]
    let profileTotalMs: Double
    let layers: [LayerTiming]
    let peakRSSMB: Double
    func stage(_ pick: KeyPath<StageTimes, Double>) -> (min: Double, median: Double, max: Double) {
        let v = stages.map { $0[keyPath: pick] }.sorted()
        return (v.first ?? 0, median(v), v.last ?? 0)
    }
    var forward: (min: Double, median: Double, max: Double) { stage(\.forward) }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let v = values.sorted(), n = v.count
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
}

/// Peak resident set size of this process so far (getrusage: kilobytes on Linux).
func peakResidentMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The figures of one `yolo bench` run, as text or JSON.
struct Report {
    let model: String
    let image: String
    let imageSize: (width: Int, height: Int)
    let network: Network
    let threads: Int
    let runs: Int
    let warmup: Int
    let peakSize: Int
    let peaks: [(BackendChoice, Double)]
    let backends: [BackendResult]
    let shapes: [[GEMMShape]]                            // per node: its GEMM calls
    let shapeTimes: [GEMMShape: [BackendChoice: Double]]  // per distinct shape: ms alone, per backend
    let clock: BenchClock

    static let stageNames: [(String, KeyPath<StageTimes, Double>)] = [
        ("decode", \.decode), ("preprocess", \.preprocess), ("forward", \.forward), ("postprocess", \.postprocess), ("total", \.total),
    ]

    var gflops: Double { 2 * Double(network.macs) / 1e9 }
    var peak: Double? { peaks.map(\.1).max() }
    var input: TensorShape { network.inputShape }
    /// Activation memory: the layer-output buffers (shared between layers, `Network.shareBuffers`), the input and
    /// the scratch (im2col / Winograd) buffer.
    var activationMB: Double { Double(network.activationBytes) / 1_048_576 }
    var weightsMB: Double {
        Double(network.nodes.reduce(0) { sum, node in
            guard let conv = node.layer as? ConvolutionLayer else { return sum }
            return sum + conv.weights.count + conv.bias.count
        }) * 4 / 1_048_576
    }
    var convCount: Int { network.nodes.filter { $0.layer is ConvolutionLayer }.count }
    var gemmNodes: [Int] { shapes.indices.filter { !shapes[$0].isEmpty } }

    /// Node `i`'s GEMM calls timed alone on `backend` (ms), and their GFLOP/s.
    func gemmMs(_ i: Int, _ backend: BackendChoice) -> Double { shapes[i].reduce(0) { $0 + (shapeTimes[$1]?[backend] ?? 0) } }
    func gemmRate(_ i: Int, _ backend: BackendChoice) -> Double {
        let ms = gemmMs(i, backend)
        return ms > 0 ? shapes[i].reduce(0) { $0 + $1.flops } / ms / 1e6 : 0
    }
    /// All GEMM calls of one forward pass, timed alone (ms).
    func totalGemmMs(_ backend: BackendChoice) -> Double { gemmNodes.reduce(0) { $0 + gemmMs($1, backend) } }

    static var date: String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: Date())
    }
    static var cpu: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let name = info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last
        return (name.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU") + ", \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    // MARK: text

    var text: String {
        var out: [String] = []
        func f(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func padRight(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let both = backends.count == 2
        out.append("model:    \(model)")
        out.append("image:    \(image) (\(imageSize.width)×\(imageSize.height)) → input \(input.width)×\(input.height)")
        out.append("machine:  \(Report.cpu); \(threads) thread(s); \(Report.date)")
        out.append("work:     \(f(gflops)) GFLOP per forward (\(convCount) conv layers), weights \(f(weightsMB, 1)) MB, activations \(f(activationMB, 1)) MB")
        if !peaks.isEmpty {
            out.append("peak:     \(peakSize)³ sgemm, \(threads) thread(s): " + peaks.map { "\($0.0.rawValue) \(f($0.1, 1)) GFLOP/s" }.joined(separator: ", "))
        }
        out.append("runs:     \(runs) timed after \(warmup) warm-up, per backend")
        out.append("")
        // Stage table: one column group per backend.
        var header = padRight("latency ms", 12)
        for b in backends { header += pad(b.backend.rawValue + " min", 12) + pad("median", 9) + pad("max", 9) }
        out.append(header)
        for (name, pick) in Report.stageNames {
            var line = padRight(name, 12)
            for b in backends { let s = b.stage(pick); line += pad(f(s.min), 12) + pad(f(s.median), 9) + pad(f(s.max), 9) }
            out.append(line)
        }
        out.append("")
        for b in backends {
            let rate = gflops / b.forward.median * 1e3
            var line = padRight("\(b.backend.rawValue)\(b.kernel.map { " (\($0) kernel)" } ?? ""):", 22) + "forward \(f(rate, 1)) GFLOP/s"
            if let peak { line += " = \(f(100 * rate / peak, 0))% of peak" }
            line += "; GEMMs alone \(f(totalGemmMs(b.backend))) ms"
            line += "; peak RSS so far \(f(b.peakRSSMB, 0)) MB"
            out.append(line)
        }
        if both {
            let fwd = backends[0].forward.median / backends[1].forward.median
            let gemm = totalGemmMs(.blas) / totalGemmMs(.swift)
            out.append("swift speed / blas speed: forward \(f(100 * fwd, 0))% (median), the model's GEMMs alone \(f(100 * gemm, 0))%")
        }
        out.append("")
        // Layer table: GEMM layers one by one, other layers summed by kind.
        out.append("per layer: gemm = the layer's GEMM shape(s) timed alone (best of several); layer = median \(clock == .cpu ? "thread CPU" : "wall") time in the forward pass")
        out.append("(blas: im2col + sgemm + bias/activation; swift: im2col and bias/activation fused into its GEMM); share of the forward pass")
        var h = pad("#", 4) + " " + padRight("kind", 11) + pad("M", 6) + pad("N", 8) + pad("K", 6)
        for b in backends { h += " │ " + padRight(b.backend.rawValue, 5) + pad("gemm", 7) + pad("GFLOP/s", 8) + pad("layer", 8) + pad("share", 7) }
        if both { h += " │ " + pad("swift/blas", 10) }
        out.append(h)
        let first = backends[0]
        for i in gemmNodes {
            let s = shapes[i][0]
            let kind = network.nodes[i].layer.kind + (shapes[i].count > 1 ? "×\(shapes[i].count)" : "")
            var line = pad("\(i)", 4) + " " + padRight(kind, 11) + pad("\(s.m)", 6) + pad("\(s.n)", 8) + pad("\(s.k)", 6)
            for b in backends {
                let l = b.layers[i]
                line += " │ " + padRight("", 5) + pad(f(gemmMs(i, b.backend)), 7) + pad(f(gemmRate(i, b.backend), 1), 8) + pad(f(l.ms), 8)
                    + pad(f(100 * l.ms / b.profileTotalMs, 1) + "%", 7)
            }
            if both { line += " │ " + pad(f(backends[0].layers[i].ms / backends[1].layers[i].ms), 10) }
            out.append(line)
        }
        var kinds: [String] = []
        for i in network.nodes.indices where shapes[i].isEmpty && !kinds.contains(network.nodes[i].layer.kind) { kinds.append(network.nodes[i].layer.kind) }
        for kind in kinds {
            let nodes = network.nodes.indices.filter { shapes[$0].isEmpty && network.nodes[$0].layer.kind == kind }
            var line = pad("", 4) + " " + padRight(kind, 11) + pad("(\(nodes.count) layer\(nodes.count == 1 ? "" : "s"))", 20)
            for b in backends {
                let ms = nodes.reduce(0) { $0 + b.layers[$1].ms }
                line += " │ " + padRight("", 5) + pad("", 15) + pad(f(ms), 8) + pad(f(100 * ms / b.profileTotalMs, 1) + "%", 7)
            }
            if both {
                line += " │ " + pad(f(nodes.reduce(0) { $0 + backends[0].layers[$1].ms } / max(1e-9, nodes.reduce(0) { $0 + backends[1].layers[$1].ms })), 10)
            }
            out.append(line)
        }
        var totals = pad("", 4) + " " + padRight("total", 11) + pad("", 20)
        for b in backends {
            totals += " │ " + padRight("", 5) + pad(f(totalGemmMs(b.backend)), 7) + pad("", 8) + pad(f(b.profileTotalMs), 8) + pad("100%", 7)
        }
        if both { totals += " │ " + pad(f(backends[0].profileTotalMs / backends[1].profileTotalMs), 10) }
        out.append(totals)
        _ = first
        return out.joined(separator: "\n")
    }

    // MARK: JSON

    var json: JSONValue {
        func stat(_ s: (min: Double, median: Double, max: Double)) -> JSONValue {
            .object([("min", .number(s.min)), ("median", .number(s.median)), ("max", .number(s.max))])
        }
        let backendObjects: [JSONValue] = backends.map { b in
            var fields: [(String, JSONValue)] = [("backend", .string(b.backend.rawValue))]
            if let kernel = b.kernel { fields.append(("micro_kernel", .string(kernel))) }
            fields.append(("forward_ms", stat(b.forward)))
            fields.append(("gflops_per_s", .number(gflops / b.forward.median * 1e3)))
            if let peak { fields.append(("fraction_of_peak", .number(gflops / b.forward.median * 1e3 / peak))) }
            fields.append(("stages_ms", .object(Report.stageNames.map { ($0.0, stat(b.stage($0.1))) })))
            fields.append(("gemm_alone_ms", .number(totalGemmMs(b.backend))))
            fields.append(("profile_forward_ms", .number(b.profileTotalMs)))
            fields.append(("peak_rss_mb", .number(b.peakRSSMB)))
            fields.append(("layers", .array(network.nodes.indices.map { i in
                let l = b.layers[i]
                var o: [(String, JSONValue)] = [("index", .number(Double(i))), ("kind", .string(network.nodes[i].layer.kind))]
                if let s = shapes[i].first {
                    o += [("m", .number(Double(s.m))), ("n", .number(Double(s.n))), ("k", .number(Double(s.k))),
                          ("gemm_calls", .number(Double(shapes[i].count))), ("gemm_ms", .number(gemmMs(i, b.backend))),
                          ("gemm_gflops_per_s", .number(gemmRate(i, b.backend)))]
                } else {
                    o += [("m", .null), ("n", .null), ("k", .null)]
                }
                o += [("ms", .number(l.ms)), ("share", .number(l.ms / b.profileTotalMs))]
                return .object(o)
            })))
            return .object(fields)
        }
        return .object([
            ("model", .string(model)), ("image", .string(image)),
            ("input", .array([.number(Double(input.height)), .number(Double(input.width))])),
            ("threads", .number(Double(threads))), ("runs", .number(Double(runs))), ("warmup", .number(Double(warmup))),
            ("layer_clock", .string(clock.rawValue)),
            ("date", .string(Report.date)), ("cpu", .string(Report.cpu)),
            ("model_gflops", .number(gflops)), ("weights_mb", .number(weightsMB)), ("activations_mb", .number(activationMB)),
            ("peak_gflops_per_s", peak.map { .number($0) } ?? .null),
            ("peak_sgemm", .object([("size", .number(Double(peakSize)))] + peaks.map { ($0.0.rawValue + "_gflops_per_s", .number($0.1)) })),
            ("backends", .array(backendObjects)),
        ])
    }
}

/// A small ordered JSON value (keys keep their order, for readable output).
indirect enum JSONValue {
    case null, string(String), number(Double), array([JSONValue]), object([(String, JSONValue)])

    func serialized(indent: String = "") -> String {
        switch self {
        case .null: return "null"
        case .number(let v):
            guard v.isFinite else { return "null" }
            return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.6g", v)
        case .string(let s): return JSONOutput.string(s)
        case .array(let items):
            // Arrays of scalars stay on one line; arrays of objects get one item per line.
            if items.allSatisfy({ if case .object = $0 { return false } else { return true } }) {
                return "[" + items.map { $0.serialized() }.joined(separator: ", ") + "]"
            }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.serialized(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let fields):
            // Small flat objects (layers, stats) on one line.
            let flat = fields.allSatisfy { if case .object = $0.1 { return false }; if case .array = $0.1 { return false }; return true }
            if flat && fields.count <= 12 {
                return "{" + fields.map { JSONValue.string($0.0).serialized() + ": " + $0.1.serialized() }.joined(separator: ", ") + "}"
            }
            let inner = indent + "  "
            return "{\n" + fields.map { inner + JSONValue.string($0.0).serialized() + ": " + $0.1.serialized(indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        }
    }
}
