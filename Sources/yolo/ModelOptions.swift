import ArgumentParser
import Foundation
import YOLOKit

/// The options every command that runs a model shares (detect, bench; later val, export, info), declared once:
/// which model, at which input size, on how many threads and which GEMM backend. Checked in `validate` like every
/// other usage error (exit status 2).
struct ModelOptions: ParsableArguments {
    @Option(help: "Model name (see `yolo models`), an Ultralytics .pt checkpoint or its .safetensors export (`yolo export`), or a Darknet .cfg with its .weights beside it.")
    var model: String = ModelRegistry.defaultModel

    @Option(help: "Network input size in pixels (a multiple of 32; others are rounded up). Default: the model's own — the cfg's size for Darknet, the checkpoint's training imgsz for Ultralytics (640 when it has none).")
    var imgsz: Int?

    @Option(help: "Threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "GEMM backend: blas (OpenBLAS) or swift (the project's pure-Swift kernels); the same detections. Default: swift in a build for the CPU (`-target-cpu`, as scripts/setup.sh builds), blas in a baseline x86-64 build. `yolo bench` also takes both (its default).")
    var backend: BackendChoice?

    @Option(help: "Convolution arithmetic: fp32, or bf16 (bf16 weights and activations, fp32 sums; for fp32 models — an int8 model is a file of its own, `yolo quantize`).")
    var precision: Precision = .fp32

    @Flag(help: "YOLO26: run the NMS-free one-to-one head (Ultralytics' nms=False) instead of the one-to-many head with NMS (Ultralytics' default).")
    var end2end = false

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive (got \(threads))") }
        if let imgsz, imgsz < 32 || imgsz > 8192 { throw ValidationError("--imgsz must be between 32 and 8192 (got \(imgsz))") }
        if backend == .blas || backend == .both, let error = OpenBLAS.loadError { throw ValidationError("--backend blas: \(error)") }
    }

    /// The backend of a command that runs one: `--backend`, else the build's default (`ExecutionOptions.defaultBackend`).
    var selectedBackend: GEMMBackendKind { backend?.kinds.first ?? ExecutionOptions.defaultBackend }

    /// Ultralytics rounds an --imgsz that is not a multiple of the stride up, with a warning.
    func roundedImageSize() -> Int? {
        guard let imgsz else { return nil }
        let rounded = (imgsz + 31) / 32 * 32
        if rounded != imgsz { printError("warning: --imgsz \(imgsz) must be a multiple of 32, using \(rounded)") }
        return rounded
    }

    /// The execution settings for `backend` on `threads` threads. Environment variables give the defaults of what
    /// has no flag: `YOLO_WINOGRAD=0|2|4` (off / F(2×2) / F(4×4) wherever Winograd applies) and
    /// `YOLO_SWIFT_GEMM_KERNEL=8x32|6x16`, for measuring. `forwards`: how many forward passes the command will run,
    /// when it knows (`WinogradPolicy.forRun`: a run of one image skips the Winograd filter transform).
    func execution(backend: GEMMBackendKind, threads: Int? = nil, forwards: Int? = nil) -> ExecutionOptions {
        let env = ProcessInfo.processInfo.environment
        let winograd: WinogradPolicy
        switch env["YOLO_WINOGRAD"] {
        case "0": winograd = .off
        case "2": winograd = .f2x2
        case "4": winograd = .f4x4
        default: winograd = WinogradPolicy.measured.forRun(forwards: forwards)
        }
        let kernel = env["YOLO_SWIFT_GEMM_KERNEL"].flatMap(SwiftGEMM.Kernel.init(rawValue:)) ?? .automatic
        return ExecutionOptions(threads: threads ?? self.threads, backend: backend, swiftKernel: kernel, winograd: winograd, precision: precision)
    }

    /// Loads the model for `backend` (size rounded as `roundedImageSize`, given once by the caller).
    func detector(backend: GEMMBackendKind, threads: Int? = nil, imageSize: Int?, forwards: Int? = nil) throws -> Detector {
        try Detector(model: model, execution: execution(backend: backend, threads: threads, forwards: forwards), imageSize: imageSize,
                     endToEnd: end2end ? true : nil)
    }
}

extension Precision: ExpressibleByArgument {}

/// `--backend blas|swift` (and `both` for `yolo bench`): which GEMM runs the convolutions.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case blas, swift, both

    /// The backends this choice runs, in order.
    var kinds: [GEMMBackendKind] {
        switch self {
        case .blas: return [.blas]
        case .swift: return [.swift]
        case .both: return [.blas, .swift]
        }
    }
}
