import Foundation

/// How a model runs: threads, the GEMM backend, the Winograd policy and the bounds a model file may ask for.
/// A value given to a `Detector` (and by it to the loaders and to every forward pass), like ncnn's `Option`:
/// two detectors in one process can use different settings at the same time. Nothing here is process-wide;
/// the only process-wide step left is pinning OpenBLAS's own thread pool to one thread, once (see `OpenBLAS`).
public struct ExecutionOptions: Sendable, Equatable {
    /// Threads every kernel of one forward pass is split over.
    public var threads: Int
    /// Which matrix multiply runs the convolutions.
    public var backend: GEMMBackendKind
    /// The pure-Swift GEMM's micro-kernel (`.automatic`: timed once per process, see `SwiftGEMM.Kernel`).
    public var swiftKernel: SwiftGEMM.Kernel
    /// Which 3×3 convolutions run as Winograd, decided when a network is built.
    public var winograd: WinogradPolicy
    /// Bounds on what a model file may ask for, checked when a model loads.
    public var limits: ModelLimits
    /// The arithmetic of the convolutions (`ModelFile.load` wraps an fp32 model for bf16).
    public var precision: Precision

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, backend: GEMMBackendKind = ExecutionOptions.defaultBackend,
                swiftKernel: SwiftGEMM.Kernel = .automatic, winograd: WinogradPolicy = .measured, limits: ModelLimits = ModelLimits(),
                precision: Precision = .fp32) {
        self.threads = max(1, threads)
        self.backend = backend
        self.swiftKernel = swiftKernel
        self.winograd = winograd
        self.limits = limits
        self.precision = precision
    }

    /// The backend a run gets unless it asks for one: the pure-Swift GEMM when this build runs it as vector code
    /// (built with `-target-cpu`, as the project's scripts do) — as fast as OpenBLAS on Zen 4 and 2.5× faster than
    /// Debian's OpenBLAS where that falls back to its SSE3 kernels (this project's Intel Xeon VM) — else OpenBLAS
    /// (a baseline x86-64 build, where the Swift GEMM is ~65× slower; unless OpenBLAS cannot be loaded). Decided once per process from the timing
    /// `SwiftGEMM.Kernel.automatic` takes anyway (~2 ms).
    public static var defaultBackend: GEMMBackendKind { SwiftGEMM.isVectorized || OpenBLAS.loadError != nil ? .swift : .blas }

    /// The GEMM backend these options describe, splitting each call over `threads` threads.
    public var gemm: any GEMMBackend {
        switch backend {
        case .blas: return OpenBLASGEMM(threads: threads)
        case .swift: return SwiftGEMM(threads: threads, kernel: swiftKernel)
        }
    }
}

/// The matrix-multiply implementations (`GEMMBackend`): OpenBLAS or the project's own pure-Swift GEMM.
/// Both give the same detections (outputs equal to float rounding); `yolo bench` compares their speed.
public enum GEMMBackendKind: String, Sendable, CaseIterable {
    case blas, swift
}
