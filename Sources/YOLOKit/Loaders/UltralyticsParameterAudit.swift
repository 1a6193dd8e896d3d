/// The parameter audit of a built Ultralytics network: every tensor the checkpoint holds must have been read by
/// the graph builder (as mlx-swift checks for unused keys), so a checkpoint that is not what the builder thinks it is
/// fails loudly instead of detecting with missing layers.
extension UltralyticsGraphBuilder {
    /// Every parameter and BatchNorm statistic in the checkpoint must have been used (the one-to-many
    /// branches of an end-to-end head are training-only and skipped by design).
    func checkAllParametersUsed(_ layers: [TorchModule]) throws {
        var unused: [String] = []
        var walked = 0
        func walk(_ m: TorchModule, _ p: String) {
            walked += 1
            guard walked <= UltralyticsGraphBuilder.maxVisits else { return }  // bounded like `module` (which ran first)
            if model.hasOneToOneHead && m.className == "Detect" {
                // The branch pair that is not run is skipped: one-to-many (training only) or one-to-one.
                let skipped: Set<String> = model.endToEnd ? ["cv2", "cv3"] : ["one2one_cv2", "one2one_cv3"]
                for (name, c) in m.children where !skipped.contains(name) { walk(c, p + "." + name) }
                return
            }
            for (name, _) in m.parameters where !used.contains(p + "." + name) { unused.append(p + "." + name) }
            for (name, _) in m.buffers where name != "num_batches_tracked" && !used.contains(p + "." + name) { unused.append(p + "." + name) }
            for (name, c) in m.children { walk(c, p + "." + name) }
        }
        for (i, layer) in layers.enumerated() { walk(layer, "model.\(i)") }
        guard unused.isEmpty else {
            throw ModelLoadError(path: path, reason: "\(unused.count) tensors of the checkpoint are not used by the network: \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", …" : "")")
        }
    }
}
