import ArgumentParser
import Foundation
import YOLOKit

/// The measuring half of `yolo bench`: stage latencies through `Detector.detect`, a per-layer profile of the same
/// network, the GEMM shapes of one forward pass timed alone per backend, and the machine's sgemm peak.
struct BenchMeasurement {
    let threads: Int
    let runs: Int
    let warmup: Int
    let clock: BenchClock

    /// Stage latencies through `Detector.detect` (the real path), then a per-layer profile of the same network.
    func measure(_ detector: Detector, path: String, image: RGBImage) throws -> BackendResult {
        for _ in 0..<warmup { _ = try detector.detect(imageAt: path) }
        var stages: [StageTimes] = []
        for _ in 0..<runs { stages.append(try detector.detect(imageAt: path).times) }

        let network = detector.network(for: image)
        let count = network.nodes.count
        var layerMs = [[Double]](repeating: [], count: count)
        var totals: [Double] = []
        for run in 0..<(runs + 1) {  // the first pass warms the profile (caches, page faults), untimed
            var total = 0.0
            var cpuStart = threadCPUMilliseconds()
            network.forward(detector.execution) { index, seconds in
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
        return BackendResult(backend: detector.execution.backend, kernel: detector.execution.gemm.detail, stages: stages, profileTotalMs: median(totals), layers: layers,
                             peakRSSMB: peakResidentMB())
    }

    /// The GEMM calls of every node (shape and count), recorded from one forward pass.
    func gemmShapes(_ network: Network) -> [[GEMMShape]] {
        let recorder = RecordingGEMM(threads: threads)
        var shapes = [[GEMMShape]](repeating: [], count: network.nodes.count)
        network.forward(gemm: recorder, threads: threads) { index, _ in shapes[index] = recorder.take() }
        return shapes
    }

    /// Each distinct GEMM shape timed alone on each backend (random operands; backends interleaved so load
    /// elsewhere on the machine hits both alike); the minimum of `repeats` runs, in ms.
    func timeShapes(_ shapes: [GEMMShape], backends: [ExecutionOptions], repeats: Int) -> [GEMMShape: [GEMMBackendKind: Double]] {
        var result: [GEMMShape: [GEMMBackendKind: Double]] = [:]
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        for shape in Set(shapes).sorted(by: { ($0.m, $0.n, $0.k) < ($1.m, $1.n, $1.k) }) {
            let a = FloatBuffer(count: shape.m * shape.k), b = FloatBuffer(count: shape.k * shape.n), c = FloatBuffer(count: shape.m * shape.n)
            for buffer in [a, b] {
                for i in 0..<buffer.count { rng = rng &* 6364136223846793005 &+ 1442695040888963407; buffer.pointer[i] = Float(Int32(truncatingIfNeeded: rng >> 33)) / 2_147_483_648 }
            }
            var best = [GEMMBackendKind: Double]()
            let gemms = backends.map { ($0.backend, $0.gemm) }
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
    private let blas: OpenBLASGEMM
    init(threads: Int) { blas = OpenBLASGEMM(threads: threads) }
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
    let backend: GEMMBackendKind
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

