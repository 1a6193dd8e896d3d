// swift-tools-version:6.0
import PackageDescription

// No unsafe flags: SwiftPM refuses them in packages used by version (`.package(url:, from:)`). The hot loops
// (im2col, activations, resize, the pure-Swift GEMM) need the CPU's vector units, and Swift builds for baseline
// x86-64 (no AVX, no FMA) unless told otherwise, so the project's scripts build with the CPU targeted on the
// command line: `swift build -c release -Xswiftc -target-cpu -Xswiftc native` (README "Building for your CPU").

let package = Package(
    name: "SwiftYOLO",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "YOLOKit", targets: ["YOLOKit"]),
        .executable(name: "yolo", targets: ["yolo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // OpenBLAS cblas_sgemm and LAPACKE sgesdd, loaded on first use (Debian: libopenblas0, liblapacke): see its header.
        .target(name: "COpenBLAS", linkerSettings: [.linkedLibrary("dl")]),
        // Model downloads through libcurl, loaded on first use (Debian: libcurl4): see its header.
        .target(name: "CDownload", linkerSettings: [.linkedLibrary("dl")]),
        // libjpeg(-turbo) / libpng behind setjmp-safe C functions (Debian: libjpeg-dev, libpng-dev).
        .target(
            name: "CImageCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]
        ),
        // Low-precision GEMM micro-kernels (int8 VNNI / AVX512BW / AVX2, bf16) and the training SiLU: per-function target attributes and
        // run-time CPU checks, so no compiler flags are needed.
        .target(name: "CQuantKernels"),
        .target(
            name: "YOLOKit",
            dependencies: [
                "COpenBLAS", "CDownload", "CImageCodecs", "CQuantKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "yolo",
            dependencies: ["YOLOKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "YOLOKitTests",
            // `yolo` too: the CLI tests run the built binary, so `swift test` must build it.
            dependencies: ["YOLOKit", "yolo"],
            path: "Tests/YOLOKitTests"
        ),
    ],
    swiftLanguageModes: [.v5]
)
