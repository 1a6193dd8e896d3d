import Foundation
import YOLOKit

/// The figures of one `yolo bench` run, as text or JSON.
struct BenchReport {
    let model: String
    let image: String
    let imageSize: (width: Int, height: Int)
    let network: Network
    let threads: Int
    let runs: Int
    let warmup: Int
    let peakSize: Int
    let peaks: [(GEMMBackendKind, Double)]
    let backends: [BackendResult]
    let shapes: [[GEMMShape]]                            // per node: its GEMM calls
    let shapeTimes: [GEMMShape: [GEMMBackendKind: Double]]  // per distinct shape: ms alone, per backend
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
    var weightsMB: Double { Double(network.parameterCount) * 4 / 1_048_576 }
    var convCount: Int { network.nodes.filter { $0.layer.kind == "conv" }.count }
    var gemmNodes: [Int] { shapes.indices.filter { !shapes[$0].isEmpty } }

    /// Node `i`'s GEMM calls timed alone on `backend` (ms), and their GFLOP/s.
    func gemmMs(_ i: Int, _ backend: GEMMBackendKind) -> Double { shapes[i].reduce(0) { $0 + (shapeTimes[$1]?[backend] ?? 0) } }
    func gemmRate(_ i: Int, _ backend: GEMMBackendKind) -> Double {
        let ms = gemmMs(i, backend)
        return ms > 0 ? shapes[i].reduce(0) { $0 + $1.flops } / ms / 1e6 : 0
    }
    /// All GEMM calls of one forward pass, timed alone (ms).
    func totalGemmMs(_ backend: GEMMBackendKind) -> Double { gemmNodes.reduce(0) { $0 + gemmMs($1, backend) } }

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
        out.append("machine:  \(BenchReport.cpu); \(threads) thread(s); \(BenchReport.date)")
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
        for (name, pick) in BenchReport.stageNames {
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
            fields.append(("stages_ms", .object(BenchReport.stageNames.map { ($0.0, stat(b.stage($0.1))) })))
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
            ("date", .string(BenchReport.date)), ("cpu", .string(BenchReport.cpu)),
            ("model_gflops", .number(gflops)), ("weights_mb", .number(weightsMB)), ("activations_mb", .number(activationMB)),
            ("peak_gflops_per_s", peak.map { .number($0) } ?? .null),
            ("peak_sgemm", .object([("size", .number(Double(peakSize)))] + peaks.map { ($0.0.rawValue + "_gflops_per_s", .number($0.1)) })),
            ("backends", .array(backendObjects)),
        ])
    }
}

