import CQuantKernels
import Foundation

/// The project's own SGEMM in Swift: C[M×N] = alpha · A[M×K] · B[K×N] + beta · C, row-major, no transposes — the
/// same contract as `OpenBLASGEMM`. The micro-kernels are plain Swift SIMD; only the 8-row A panels are packed by
/// C (`cqk_transpose`: 8 × 8 register transposes, which Swift's SIMD shuffles do not compile to).
///
/// Structure (BLIS / GotoBLAS): B is packed block by block (KC rows × NC columns, sized for the L2 cache)
/// into NR-column panels; A is packed one MR-row panel at a time (MR × KC, stays in L1); a register-blocked
/// micro-kernel multiplies one A panel by one B panel into an MR × NR tile of C held in SIMD registers
/// (`SIMD16<Float>.addProduct`, which becomes FMA when the build targets the CPU — see README "Building for
/// your CPU"). Edge tiles (M, N not multiples of the tile) go through a small zero-padded tile buffer.
/// Both cores: the call is split along N (each thread packs its own B panels) or along M (each thread packs
/// its own A panels) — whichever re-packs the smaller operand — and run with `DispatchQueue.concurrentPerform`.
///
/// For convolutions (`convolution(_:)`) the B panels are packed straight from the input feature map (implicit
/// im2col: the column matrix is never written out) and each finished tile gets its bias and activation while
/// it is still in L1, so the layer makes one pass over its output instead of three.
///
/// The micro-kernel shape must fit the register file: 8×32 (16 zmm accumulators) for AVX-512, 6×16
/// (12 ymm accumulators) for AVX2. Swift cannot ask at compile time which vector ISA the build targets, so
/// `SwiftGEMM.Kernel.automatic` times both once per process (`chooseKernel`): a build for a CPU without
/// AVX-512 never runs the spilling kernel. `ExecutionOptions.swiftKernel` (the CLI: `YOLO_SWIFT_GEMM_KERNEL=8x32|6x16`) forces one.
public struct SwiftGEMM: GEMMBackend {
    public enum Kernel: String, Sendable, CaseIterable {
        /// 8 rows × 32 columns: 16 accumulators of 16 floats (AVX-512: zmm0–31).
        case k8x32 = "8x32"
        /// 6 rows × 16 columns: 6 accumulators of 16 floats = 12 ymm (AVX2: ymm0–15).
        case k6x16 = "6x16"
        case automatic = "auto"

        var mr: Int { self == .k6x16 ? 6 : 8 }
        var nr: Int { self == .k6x16 ? 16 : 32 }
    }

    /// Threads each call is split over.
    public var threads: Int
    public let kernel: Kernel
    /// Whether `convolution` packs B from the input (implicit im2col) and applies bias + activation per tile;
    /// false runs the protocol's default (im2col, `sgemm`, separate activation pass), for comparison.
    public var fusesConvolution: Bool

    public init(threads: Int = 1, kernel: Kernel = .automatic, fusesConvolution: Bool = true) {
        self.threads = max(1, threads)
        self.kernel = kernel == .automatic ? SwiftGEMM.automaticKernel : kernel
        self.fusesConvolution = fusesConvolution
    }

    public var name: String { "swift" }
    public var detail: String? { kernel.rawValue }

    /// The kernel `.automatic` resolves to on this machine and build.
    public static var automaticKernel: Kernel { kernelChoice.kernel }
    /// Whether this build runs the micro-kernel as vector code (`-target-cpu` with FMA: 50–120 GFLOP/s per core
    /// measured) rather than baseline x86-64 scalar/SSE code (1–3 GFLOP/s); `ExecutionOptions.defaultBackend` asks.
    public static var isVectorized: Bool { kernelChoice.flopsPerNs >= 20 }
    private static let kernelChoice: (kernel: Kernel, flopsPerNs: Double) = chooseKernel()

    // Cache blocking (floats). KC × NC of packed B (384 KB) stays in a 1 MB L2 with room for C and A;
    // MR × KC of packed A (8 KB) stays in L1 while it meets every B panel of the block.
    static let kc = 256
    static let nc = 384
    /// B of at most this many floats (10 MB, an L3's worth) with K deeper than one block is packed whole
    /// (`narrowGEMM`); measured on Zen 4: better from 13×13 up to 40×30 maps, worse from 80×60 up.
    static let narrowLimit = 2_500_000

    public func sgemm(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(lda >= max(1, k), "sgemm: lda \(lda) < K \(k)")
        runDense(Problem(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: .dense(b, ldb: ldb), beta: beta, c: c, ldc: ldc, epilogue: nil))
    }

    public func sgemmTransposingA(m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(lda >= max(1, m), "sgemm: lda \(lda) < M \(m) for a transposed A")
        var problem = Problem(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: .dense(b, ldb: ldb), beta: beta, c: c, ldc: ldc, epilogue: nil)
        problem.aTransposed = true
        runDense(problem)
    }

    /// Shape checks and the trivial cases (empty C; K = 0 or alpha = 0: C = beta · C), then `run`.
    private func runDense(_ p: Problem) {
        precondition(p.m >= 0 && p.n >= 0 && p.k >= 0 && p.ldc >= max(1, p.n), "sgemm: bad shape or leading dimension")
        if case .dense(_, let ldb) = p.b { precondition(ldb >= max(1, p.n), "sgemm: ldb \(ldb) < N \(p.n)") }
        guard p.m > 0, p.n > 0 else { return }
        if p.k == 0 || p.alpha == 0 { return scaleRows(c: p.c, m: p.m, n: p.n, ldc: p.ldc, beta: p.beta) }
        run(p)
    }

    public func convolution(_ conv: ConvolutionGEMM) {
        if let w = conv.winograd { return conv.runWinograd(self, w) }
        guard fusesConvolution else { return conv.runUnfused(self) }
        let (m, n, k) = conv.gemmShape
        let groupChannels = conv.inputShape.channels / conv.groups
        for g in 0..<conv.groups {
            let input = conv.input + g * groupChannels * conv.inputShape.planeSize
            let source: BSource = conv.needsIm2col
                ? .im2col(Im2colSource(input: input, height: conv.inputShape.height, width: conv.inputShape.width, kernel: conv.size,
                                       stride: conv.stride, pad: conv.pad, outWidth: conv.outputShape.width))
                : .dense(input, ldb: n)
            run(Problem(m: m, n: n, k: k, alpha: 1, a: conv.weights + g * m * k, lda: k, b: source, beta: 0,
                        c: conv.output + g * m * n, ldc: n, epilogue: Epilogue(bias: conv.bias.map { $0 + g * m }, activation: conv.activation)))
        }
    }

    /// Splits the problem over the threads and runs the blocked loops.
    private func run(_ problem: Problem) {
        let (m, n, k) = (problem.m, problem.n, problem.k)
        let mr = kernel.mr, nr = kernel.nr
        let mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr
        var workers = threads
        if 2 * m * n * k < 4_000_000 { workers = 1 }  // below ~20 µs of work, threads cost more than they give
        // Split along N when re-packing A in every thread costs less than re-packing B (M < N), as long as
        // every thread still gets a few panels; else along M.
        let kernel = self.kernel
        if k > SwiftGEMM.kc && k * n <= SwiftGEMM.narrowLimit {
            narrowGEMM(problem, kernel: kernel, mPanels: mPanels, nPanels: nPanels, workers: min(workers, mPanels))
            return
        }
        let splitN = (m <= n && nPanels >= 2 * workers) || mPanels < 2 * workers
        workers = min(workers, splitN ? nPanels : mPanels)
        if workers == 1 {
            let buffers = PackBuffers.acquire()
            defer { PackBuffers.release(buffers) }
            blockedGEMM(problem, kernel: kernel, mPanels: 0..<mPanels, nPanels: 0..<nPanels, buffers: buffers)
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let buffers = PackBuffers.acquire()
            defer { PackBuffers.release(buffers) }
            if splitN {
                blockedGEMM(problem, kernel: kernel, mPanels: 0..<mPanels,
                            nPanels: (nPanels * w / workers)..<(nPanels * (w + 1) / workers), buffers: buffers)
            } else {
                blockedGEMM(problem, kernel: kernel, mPanels: (mPanels * w / workers)..<(mPanels * (w + 1) / workers),
                            nPanels: 0..<nPanels, buffers: buffers)
            }
        }
    }
}

/// B is small (K·N ≤ `narrowLimit`: the 13×13 … 40×30 maps of the models) and K is deep: all of B is packed once, by all threads
/// (one K block each), into a shared buffer; then each thread takes a range of A's row panels and walks every
/// panel through the whole of K. A — here the largest operand (yolov3-tiny's 1024×4608 weights are 19 MB) —
/// is then read in long sequential runs per row rather than KC-sized pieces of many rows, which the hardware
/// prefetchers follow; the B block of each K step comes from L2/L3.
private func narrowGEMM(_ p: Problem, kernel: SwiftGEMM.Kernel, mPanels: Int, nPanels: Int, workers: Int) {
    let nr = kernel.nr
    let blocks = (p.k + SwiftGEMM.kc - 1) / SwiftGEMM.kc
    let tail = p.n % nr
    let rowFloats = (p.n / nr) * nr + (tail == 0 ? 0 : tail > nr / 2 ? nr : nr / 2)  // packed floats per row of B
    let shared = SharedPack.acquire(count: p.k * rowFloats)
    defer { SharedPack.release(shared) }
    let packedB = shared.pointer
    func packBlocks(_ range: Range<Int>, _ buffers: PackBuffers) {
        for block in range {
            let pc = block * SwiftGEMM.kc, kc = min(SwiftGEMM.kc, p.k - pc)
            // In column chunks of NC (the im2col row buffer's size); panel q of the block sits at q·kc·NR.
            var col0 = 0
            while col0 < p.n {
                let cols = min(SwiftGEMM.nc, p.n - col0)
                packBBlock(p.b, rows: pc..<(pc + kc), col0: col0, cols: cols, nr: nr,
                           into: packedB + pc * rowFloats + (col0 / nr) * kc * nr, buffers: buffers)
                col0 += cols
            }
        }
    }
    func multiply(_ panels: Range<Int>, _ buffers: PackBuffers) {
        switch kernel {
        case .k6x16: narrowPanels(p, panels: panels, nPanels: nPanels, packedB: packedB, rowFloats: rowFloats, buffers: buffers, mr: 6, nr: 16, full: kernel6x16, half: kernel6x8)
        default: narrowPanels(p, panels: panels, nPanels: nPanels, packedB: packedB, rowFloats: rowFloats, buffers: buffers, mr: 8, nr: 32, full: kernel8x32, half: kernel8x16)
        }
    }
    if workers <= 1 {
        let buffers = PackBuffers.acquire()
        defer { PackBuffers.release(buffers) }
        packBlocks(0..<blocks, buffers)
        multiply(0..<mPanels, buffers)
        return
    }
    let packWorkers = min(workers, blocks)
    DispatchQueue.concurrentPerform(iterations: packWorkers) { w in
        let buffers = PackBuffers.acquire()
        defer { PackBuffers.release(buffers) }
        packBlocks((blocks * w / packWorkers)..<(blocks * (w + 1) / packWorkers), buffers)
    }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let buffers = PackBuffers.acquire()
        defer { PackBuffers.release(buffers) }
        multiply((mPanels * w / workers)..<(mPanels * (w + 1) / workers), buffers)
    }
}

@inline(__always)
private func narrowPanels(_ p: Problem, panels: Range<Int>, nPanels: Int, packedB: UnsafeMutablePointer<Float>, rowFloats: Int,
                          buffers: PackBuffers, mr: Int, nr: Int, full: MicroKernel, half: MicroKernel) {
    for ip in panels {
        let row0 = ip * mr, rows = min(mr, p.m - row0)
        var pc = 0
        while pc < p.k {
            let kc = min(SwiftGEMM.kc, p.k - pc)
            packPanelA(p, row0: row0, rows: rows, pc: pc, depth: kc, mr: mr, into: buffers.a)
            multiplyTiles(p, packedA: buffers.a, packedB: packedB + pc * rowFloats, panels: 0..<nPanels, row0: row0, rows: rows,
                          kc: kc, beta: pc == 0 ? p.beta : 1, last: pc + kc == p.k, tile: buffers.tile, mr: mr, nr: nr, full: full, half: half)
            pc += kc
        }
    }
}

/// A buffer for B packed whole (`narrowGEMM`), shared by the threads of one call; reused across calls.
final class SharedPack: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var count: Int
    private init() { pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1); count = 1 }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [SharedPack] = []

    static func acquire(count: Int) -> SharedPack {
        lock.lock()
        let buffer = free.popLast() ?? SharedPack()
        lock.unlock()
        if buffer.count < count {
            buffer.pointer.deallocate()
            buffer.pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            buffer.count = count
        }
        return buffer
    }

    static func release(_ buffer: SharedPack) {
        lock.lock(); defer { lock.unlock() }
        free.append(buffer)
    }
}

/// Packs rows `rows` × columns col0 ..< col0 + cols of B (from either source) as one block of NR-column panels.
@inline(__always)
private func packBBlock(_ source: BSource, rows: Range<Int>, col0: Int, cols: Int, nr: Int, into packed: UnsafeMutablePointer<Float>, buffers: PackBuffers) {
    let depth = rows.count
    switch source {
    case .dense(let b, let ldb):
        for r in 0..<depth { packBRow(b + (rows.lowerBound + r) * ldb + col0, row: r, depth: depth, cols: cols, nr: nr, into: packed) }
    case .im2col(let im2col):
        for r in 0..<depth {
            im2col.fill(row: rows.lowerBound + r, col0: col0, count: cols, into: buffers.row)
            packBRow(buffers.row, row: r, depth: depth, cols: cols, nr: nr, into: packed)
        }
    }
}

/// The tiles of one A panel (rows row0 ..< row0 + rows) against the B panels `panels` of a packed block
/// (`packedB` at the first of them), one K block deep; the epilogue runs on the last K block.
@inline(__always)
private func multiplyTiles(_ p: Problem, packedA: UnsafeMutablePointer<Float>, packedB: UnsafeMutablePointer<Float>, panels: Range<Int>,
                           row0: Int, rows: Int, kc: Int, beta: Float, last: Bool, tile: UnsafeMutablePointer<Float>,
                           mr: Int, nr: Int, full: MicroKernel, half: MicroKernel) {
    var bPanel = UnsafePointer(packedB)
    for jp in panels {
        let c0 = jp * nr, width = min(nr, p.n - c0)
        let cTile = p.c + row0 * p.ldc + c0
        if width > nr / 2 {
            if rows == mr && width == nr {
                full(kc, packedA, bPanel, cTile, p.ldc, p.alpha, beta)
            } else {
                full(kc, packedA, bPanel, tile, nr, 1, 0)
                mergeTile(tile, ldt: nr, into: cTile, ldc: p.ldc, rows: rows, cols: width, alpha: p.alpha, beta: beta)
            }
            bPanel += kc * nr
        } else {
            // A tail of at most NR/2 columns was packed NR/2 wide: the half-width kernel.
            if rows == mr && width == nr / 2 {
                half(kc, packedA, bPanel, cTile, p.ldc, p.alpha, beta)
            } else {
                half(kc, packedA, bPanel, tile, nr / 2, 1, 0)
                mergeTile(tile, ldt: nr / 2, into: cTile, ldc: p.ldc, rows: rows, cols: width, alpha: p.alpha, beta: beta)
            }
            bPanel += kc * (nr / 2)
        }
        if last, let epilogue = p.epilogue { epilogue.apply(cTile, ldc: p.ldc, row0: row0, rows: rows, cols: width) }
    }
}

/// Where the rows of B come from: a row-major matrix, or the im2col of a feature map computed on the fly.
enum BSource {
    case dense(UnsafePointer<Float>, ldb: Int)
    case im2col(Im2colSource)
}

/// One channel group of a convolution's input, read as its im2col matrix [C·k·k, outH·outW] (see `im2col`).
struct Im2colSource {
    let input: UnsafePointer<Float>
    let height: Int, width: Int
    let kernel: Int, stride: Int, pad: Int
    let outWidth: Int

    /// row[0..<count] = im2col row `r`, columns col0 ..< col0 + count: per output row a run of input
    /// row iy = oy·stride − pad + ky at x = ox·stride − pad + kx, zero outside the map.
    @inline(__always)
    func fill(row r: Int, col0: Int, count: Int, into row: UnsafeMutablePointer<Float>) {
        let kx = r % kernel, ky = (r / kernel) % kernel, c = r / (kernel * kernel)
        let plane = input + c * height * width
        var oy = col0 / outWidth, ox = col0 - oy * outWidth
        var out = row, remaining = count
        while remaining > 0 {
            let len = min(outWidth - ox, remaining)
            let iy = oy * stride - pad + ky
            if iy < 0 || iy >= height {
                out.update(repeating: 0, count: len)
            } else {
                let src = plane + iy * width
                let ix0 = ox * stride - pad + kx  // input x of the run's first column
                // Columns t in [lo, hi) read inside the row: 0 ≤ ix0 + t·stride < width.
                let lo = min(len, ix0 >= 0 ? 0 : (-ix0 + stride - 1) / stride)
                let hi = max(lo, min(len, width - ix0 <= 0 ? 0 : (width - ix0 + stride - 1) / stride))
                if lo > 0 { out.update(repeating: 0, count: lo) }
                if stride == 1 {
                    (out + lo).update(from: src + ix0 + lo, count: hi - lo)
                } else {
                    var t = lo
                    if stride == 2 {
                        // 16 columns from one 32-float load while it stays inside the row.
                        while t + 16 <= hi && ix0 + 2 * t + 32 <= width {
                            storeV(UnsafeRawPointer(src + ix0 + 2 * t).loadUnaligned(as: SIMD32<Float>.self).evenHalf, out + t)
                            t += 16
                        }
                    }
                    while t < hi { out[t] = src[ix0 + t * stride]; t += 1 }
                }
                if hi < len { (out + hi).update(repeating: 0, count: len - hi) }
            }
            out += len
            remaining -= len
            ox = 0
            oy += 1
        }
    }
}

/// Bias per row of C and an activation, applied to each tile once its last K block is done.
struct Epilogue {
    let bias: UnsafePointer<Float>?
    let activation: Activation

    @inline(__always)
    func apply(_ c: UnsafeMutablePointer<Float>, ldc: Int, row0: Int, rows: Int, cols: Int) {
        if bias == nil && activation == .linear { return }
        for i in 0..<rows { activation.applyRow(c + i * ldc, count: cols, bias: bias?[row0 + i] ?? 0) }
    }
}

/// One call's operands (pointers are valid for the duration of the call).
struct Problem: @unchecked Sendable {
    let m: Int, n: Int, k: Int
    let alpha: Float
    let a: UnsafePointer<Float>, lda: Int
    var aTransposed = false  // A stored K × M (row-major, lda ≥ M): the product uses Aᵀ
    let b: BSource
    let beta: Float
    let c: UnsafeMutablePointer<Float>, ldc: Int
    let epilogue: Epilogue?
}

/// C = beta · C (beta 0 writes zeros without reading C, as BLAS does).
private func scaleRows(c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, beta: Float) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 { row.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { row[j] *= beta } }
    }
}

/// Per-thread packing buffers, reused across calls (a forward pass allocates nothing).
final class PackBuffers: @unchecked Sendable {
    let a: UnsafeMutablePointer<Float>     // MR × KC
    let b: UnsafeMutablePointer<Float>     // KC × (NC + NR)
    let tile: UnsafeMutablePointer<Float>  // MR × NR
    let row: UnsafeMutablePointer<Float>   // one im2col row of a block: NC + NR

    private init() {
        func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }
        a = allocate(8 * SwiftGEMM.kc)
        b = allocate(SwiftGEMM.kc * (SwiftGEMM.nc + 32))
        tile = allocate(8 * 32)
        row = allocate(SwiftGEMM.nc + 32)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [PackBuffers] = []

    static func acquire() -> PackBuffers {
        lock.lock(); defer { lock.unlock() }
        return free.popLast() ?? PackBuffers()
    }

    static func release(_ buffers: PackBuffers) {
        lock.lock(); defer { lock.unlock() }
        free.append(buffers)
    }
}

/// The blocked loops for the tiles in rows `mPanels` × columns `nPanels` (in MR / NR units).
@inline(__always)
private func blockedGEMM(_ p: Problem, kernel: SwiftGEMM.Kernel, mPanels: Range<Int>, nPanels: Range<Int>, buffers: PackBuffers) {
    switch kernel {
    case .k6x16: blocked(p, mPanels: mPanels, nPanels: nPanels, buffers: buffers, mr: 6, nr: 16, full: kernel6x16, half: kernel6x8)
    default: blocked(p, mPanels: mPanels, nPanels: nPanels, buffers: buffers, mr: 8, nr: 32, full: kernel8x32, half: kernel8x16)
    }
}

/// Micro-kernel: tile[MR × width] = alpha · Apanel · Bpanel + beta · tile, Apanel [kc × MR] interleaved,
/// Bpanel [kc × width] (width = NR for `full`, NR/2 for `half`).
typealias MicroKernel = (_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) -> Void

@inline(__always)
private func blocked(_ p: Problem, mPanels: Range<Int>, nPanels: Range<Int>, buffers: PackBuffers,
                     mr: Int, nr: Int, full: MicroKernel, half: MicroKernel) {
    let ncPanels = SwiftGEMM.nc / nr
    var jc = nPanels.lowerBound
    while jc < nPanels.upperBound {
        let jcEnd = min(jc + ncPanels, nPanels.upperBound)
        let col0 = jc * nr, cols = min(jcEnd * nr, p.n) - col0
        var pc = 0
        while pc < p.k {
            let kc = min(SwiftGEMM.kc, p.k - pc)
            packBBlock(p.b, rows: pc..<(pc + kc), col0: col0, cols: cols, nr: nr, into: buffers.b, buffers: buffers)
            for ip in mPanels {
                let row0 = ip * mr, rows = min(mr, p.m - row0)
                packPanelA(p, row0: row0, rows: rows, pc: pc, depth: kc, mr: mr, into: buffers.a)
                multiplyTiles(p, packedA: buffers.a, packedB: buffers.b, panels: jc..<jcEnd, row0: row0, rows: rows, kc: kc,
                              beta: pc == 0 ? p.beta : 1, last: pc + kc == p.k, tile: buffers.tile, mr: mr, nr: nr, full: full, half: half)
            }
            pc += kc
        }
        jc = jcEnd
    }
}

/// c = alpha · tile + beta · c over rows × cols (beta 0: c is not read).
@inline(__always)
private func mergeTile(_ t: UnsafeMutablePointer<Float>, ldt: Int, into c: UnsafeMutablePointer<Float>, ldc: Int,
                       rows: Int, cols: Int, alpha: Float, beta: Float) {
    for i in 0..<rows {
        let src = t + i * ldt, dst = c + i * ldc
        if beta == 0 {
            for j in 0..<cols { dst[j] = alpha * src[j] }
        } else {
            for j in 0..<cols { dst[j] = alpha * src[j] + beta * dst[j] }
        }
    }
}

/// Packs A's panel of rows row0 ..< row0 + rows, columns pc ..< pc + depth (from either storage of A).
@inline(__always)
private func packPanelA(_ p: Problem, row0: Int, rows: Int, pc: Int, depth: Int, mr: Int, into dst: UnsafeMutablePointer<Float>) {
    if !p.aTransposed { return packA(p.a + row0 * p.lda + pc, lda: p.lda, rows: rows, depth: depth, mr: mr, into: dst) }
    // Aᵀ stored K × M: the MR values of one k are contiguous.
    if mr == 8 && rows == 8 {
        for k in 0..<depth { storeV8(loadV8(p.a + (pc + k) * p.lda + row0), dst + k * 8) }
        return
    }
    for k in 0..<depth {
        let src = p.a + (pc + k) * p.lda + row0, d = dst + k * mr
        for i in 0..<rows { d[i] = src[i] }
        for i in rows..<mr { d[i] = 0 }
    }
}

/// Packs rows × depth of A (row-major, lda) as depth groups of MR consecutive values (row i of the panel
/// at offset k·MR + i); rows beyond `rows` are zero.
@inline(__always)
private func packA(_ a: UnsafePointer<Float>, lda: Int, rows: Int, depth: Int, mr: Int, into dst: UnsafeMutablePointer<Float>) {
    // A full panel of the 8 × 32 kernel is the transpose of the 8 × depth block: 8 × 8 register transposes
    // (C: Swift's SIMD shuffles compile to lane-by-lane code).
    if mr == 8 && rows == 8 { return cqk_transpose(a, 8, Int64(depth), Int64(lda), dst, 0, 8) }
    if rows < mr { dst.update(repeating: 0, count: depth * mr) }
    for i in 0..<rows {
        let src = a + i * lda
        var d = dst + i
        for k in 0..<depth { d.pointee = src[k]; d += mr }
    }
}

/// Packs row `row` (of `depth`) of a B block, `cols` values from `src`, into the block's NR-column panels:
/// panel q holds depth × NR floats row-major at q·depth·NR; a last panel of at most NR/2 columns is
/// NR/2 wide; columns past `cols` are zero.
@inline(__always)
private func packBRow(_ src: UnsafePointer<Float>, row: Int, depth: Int, cols: Int, nr: Int, into dst: UnsafeMutablePointer<Float>) {
    var j = 0
    var panel = dst + row * nr
    while j + nr <= cols {
        if nr == 32 {
            storeV(loadV(src + j), panel); storeV(loadV(src + j + 16), panel + 16)
        } else {
            for x in stride(from: 0, to: nr, by: 16) { storeV(loadV(src + j + x), panel + x) }
        }
        j += nr
        panel += depth * nr
    }
    if j < cols {
        let width = cols - j
        let stride = width > nr / 2 ? nr : nr / 2
        let t = dst + (j / nr) * depth * nr + row * stride
        for x in 0..<width { t[x] = src[j + x] }
        for x in width..<stride { t[x] = 0 }
    }
}

/// c = alpha · acc + beta · c (beta 0: c is not read, so garbage or NaN in C does not leak in).
@inline(__always)
private func store(_ acc: SIMD16<Float>, _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    if beta == 0 {
        storeV(acc * alpha, c)
    } else {
        var v = loadV(c) * beta
        v.addProduct(acc, SIMD16(repeating: alpha))
        storeV(v, c)
    }
}

@inline(__always)
private func store(_ acc: SIMD8<Float>, _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    if beta == 0 {
        storeV8(acc * alpha, c)
    } else {
        var v = loadV8(c) * beta
        v.addProduct(acc, SIMD8(repeating: alpha))
        storeV8(v, c)
    }
}

// MARK: - Micro-kernels. Accumulators are separate locals so that they live in registers.

/// 8 × 32: per k, two 16-float loads of B, eight broadcasts of A, sixteen FMAs (AVX-512: 16 of 32 zmm).
private func kernel8x32(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadV(pb), b1 = loadV(pb + 16)
        var x = SIMD16<Float>(repeating: pa[0]); c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[1]); c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[2]); c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[3]); c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[4]); c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[5]); c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[6]); c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = SIMD16<Float>(repeating: pa[7]); c70.addProduct(x, b0); c71.addProduct(x, b1)
        pa += 8; pb += 32
    }
    var p = c
    store(c00, p, alpha, beta); store(c01, p + 16, alpha, beta); p += ldc
    store(c10, p, alpha, beta); store(c11, p + 16, alpha, beta); p += ldc
    store(c20, p, alpha, beta); store(c21, p + 16, alpha, beta); p += ldc
    store(c30, p, alpha, beta); store(c31, p + 16, alpha, beta); p += ldc
    store(c40, p, alpha, beta); store(c41, p + 16, alpha, beta); p += ldc
    store(c50, p, alpha, beta); store(c51, p + 16, alpha, beta); p += ldc
    store(c60, p, alpha, beta); store(c61, p + 16, alpha, beta); p += ldc
    store(c70, p, alpha, beta); store(c71, p + 16, alpha, beta)
}

/// 8 × 16: the column tail of the 8 × 32 kernel.
private func kernel8x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
    var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadV(pb)
        c0.addProduct(SIMD16(repeating: pa[0]), b0); c1.addProduct(SIMD16(repeating: pa[1]), b0)
        c2.addProduct(SIMD16(repeating: pa[2]), b0); c3.addProduct(SIMD16(repeating: pa[3]), b0)
        c4.addProduct(SIMD16(repeating: pa[4]), b0); c5.addProduct(SIMD16(repeating: pa[5]), b0)
        c6.addProduct(SIMD16(repeating: pa[6]), b0); c7.addProduct(SIMD16(repeating: pa[7]), b0)
        pa += 8; pb += 16
    }
    var p = c
    store(c0, p, alpha, beta); p += ldc; store(c1, p, alpha, beta); p += ldc
    store(c2, p, alpha, beta); p += ldc; store(c3, p, alpha, beta); p += ldc
    store(c4, p, alpha, beta); p += ldc; store(c5, p, alpha, beta); p += ldc
    store(c6, p, alpha, beta); p += ldc; store(c7, p, alpha, beta)
}

/// 6 × 16: per k, one 16-float load of B (two ymm), six broadcasts, six 16-wide FMAs (AVX2: 12 of 16 ymm).
private func kernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>()
    var c3 = SIMD16<Float>(), c4 = SIMD16<Float>(), c5 = SIMD16<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadV(pb)
        c0.addProduct(SIMD16(repeating: pa[0]), b0); c1.addProduct(SIMD16(repeating: pa[1]), b0)
        c2.addProduct(SIMD16(repeating: pa[2]), b0); c3.addProduct(SIMD16(repeating: pa[3]), b0)
        c4.addProduct(SIMD16(repeating: pa[4]), b0); c5.addProduct(SIMD16(repeating: pa[5]), b0)
        pa += 6; pb += 16
    }
    var p = c
    store(c0, p, alpha, beta); p += ldc; store(c1, p, alpha, beta); p += ldc; store(c2, p, alpha, beta); p += ldc
    store(c3, p, alpha, beta); p += ldc; store(c4, p, alpha, beta); p += ldc; store(c5, p, alpha, beta)
}

/// 6 × 8: the column tail of the 6 × 16 kernel.
private func kernel6x8(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>()
    var c3 = SIMD8<Float>(), c4 = SIMD8<Float>(), c5 = SIMD8<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadV8(pb)
        c0.addProduct(SIMD8(repeating: pa[0]), b0); c1.addProduct(SIMD8(repeating: pa[1]), b0)
        c2.addProduct(SIMD8(repeating: pa[2]), b0); c3.addProduct(SIMD8(repeating: pa[3]), b0)
        c4.addProduct(SIMD8(repeating: pa[4]), b0); c5.addProduct(SIMD8(repeating: pa[5]), b0)
        pa += 6; pb += 8
    }
    var p = c
    store(c0, p, alpha, beta); p += ldc; store(c1, p, alpha, beta); p += ldc; store(c2, p, alpha, beta); p += ldc
    store(c3, p, alpha, beta); p += ldc; store(c4, p, alpha, beta); p += ldc; store(c5, p, alpha, beta)
}

// MARK: - Kernel choice

extension SwiftGEMM {
    /// Timed on an L1-resident tile (about 2 ms, once per process): 8×32
    /// unless 6×16 is clearly faster. A kernel that does not fit the register file the build targets spills
    /// and loses by 2× or more (measured on Zen 4: both 117 GFLOP/s per core with AVX-512; 48 vs 117 with
    /// `-target-cpu haswell`), so noise cannot flip the choice where it matters.
    /// Returns the kernel and its speed (flops per ns on one core).
    static func chooseKernel() -> (kernel: Kernel, flopsPerNs: Double) {
        let depth = 256
        let a = UnsafeMutablePointer<Float>.allocate(capacity: 8 * depth), b = UnsafeMutablePointer<Float>.allocate(capacity: 32 * depth)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: 8 * 32)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        a.initialize(repeating: 0.5, count: 8 * depth); b.initialize(repeating: 0.25, count: 32 * depth); c.initialize(repeating: 0, count: 8 * 32)
        func flopsPerNs(_ kernel: MicroKernel, mr: Int, nr: Int) -> Double {
            var best = Double.infinity
            for _ in 0..<3 {  // ~0.1 ms each: this runs in every process, cold starts included
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<40 { kernel(depth, a, b, c, nr, 1, 1) }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start))
            }
            return Double(40 * 2 * mr * nr * depth) / best
        }
        var wide = 0.0, narrow = 0.0
        for _ in 0..<2 {  // interleaved, so a burst of load elsewhere hits both
            wide = max(wide, flopsPerNs(kernel8x32, mr: 8, nr: 32))
            narrow = max(narrow, flopsPerNs(kernel6x16, mr: 6, nr: 16))
        }
        // Where both fit (AVX-512) they tie on an L1-resident tile and 8×32 wins on real shapes (half the B
        // traffic per FMA); where 8×32 spills (AVX2 builds) it runs at under half speed. So 8×32 unless clearly slower.
        return wide * 1.3 >= narrow ? (.k8x32, wide) : (.k6x16, narrow)
    }
}
