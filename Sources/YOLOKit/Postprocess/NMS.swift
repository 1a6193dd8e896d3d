/// Greedy non-maximum suppression. Candidates are visited by descending confidence (stable for ties);
/// a candidate is dropped when its IoU with an already kept box *of the same class* exceeds `iouThreshold`
/// (every class when `agnostic`). Returns at most `maxDetections`, highest confidence first.
public func nonMaxSuppression(_ candidates: [Detection], iouThreshold: Float, maxDetections: Int = .max,
                              agnostic: Bool = false) -> [Detection] {
    let order = candidates.indices.sorted { a, b in
        candidates[a].confidence != candidates[b].confidence ? candidates[a].confidence > candidates[b].confidence : a < b
    }
    var kept: [Detection] = []
    for i in order {
        guard kept.count < maxDetections else { break }
        let c = candidates[i]
        let suppressed = kept.contains { k in (agnostic || k.classIndex == c.classIndex) && k.box.iou(c.box) > iouThreshold }
        if !suppressed { kept.append(c) }
    }
    return kept
}
