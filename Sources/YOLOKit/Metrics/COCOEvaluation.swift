import Foundation

/// One detection in COCO results form (`{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`).
public struct COCODetection: Equatable, Sendable {
    public var imageID: Int64
    public var categoryID: Int64
    public var bbox: COCOBox
    public var score: Double

    public init(imageID: Int64, categoryID: Int64, bbox: COCOBox, score: Double) {
        self.imageID = imageID; self.categoryID = categoryID; self.bbox = bbox; self.score = score
    }
}

/// pycocotools' `COCOeval` for `iouType="bbox"` with its default parameters (pycocotools 2.0.x): IoU
/// thresholds 0.50:0.05:0.95, 101 recall thresholds, areas all/small/medium/large, maxDets 1/10/100, categories
/// used. Same algorithm step by step (see `evaluate`), so the 12 statistics agree to rounding.
public enum COCOEvaluation {
    /// `np.linspace(.5, 0.95, 10)` (float64: 0.8999999999999999 included).
    static let iouThresholds: [Double] = { let step = (0.95 - 0.5) / 9; var t = (0..<10).map { Double($0) * step + 0.5 }; t[9] = 0.95; return t }()
    /// `np.linspace(.0, 1.00, 101)`.
    static let recallThresholds: [Double] = AveragePrecision.linspace01(101)
    static let areaRanges: [(lo: Double, hi: Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
    static let maxDets = [1, 10, 100]

    /// The 12 statistics, in pycocotools' order (and their printed labels).
    public struct Result: Sendable {
        public var stats: [Double]
        /// AP (IoU 0.50:0.95, area all, 100 detections) and AP50 per category id in ascending id order; -1 for a
        /// category without annotations (as pycocotools' precision array has it).
        public var perCategory: [(categoryID: Int64, ap: Double, ap50: Double)]

        public static let statNames = [
            "AP @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]", "AP @[ IoU=0.50      | area=   all | maxDets=100 ]",
            "AP @[ IoU=0.75      | area=   all | maxDets=100 ]", "AP @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
            "AP @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", "AP @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
            "AR @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]", "AR @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
            "AR @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]", "AR @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
            "AR @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]", "AR @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
        ]
    }

    /// pycocotools' `bbIou`: IoU of a detection and a ground truth box, float64; for a crowd ground truth the
    /// union is the detection's area alone.
    static func iou(_ d: COCOBox, _ g: COCOBox, crowd: Bool) -> Double {
        let w = min(d.width + d.x, g.width + g.x) - max(d.x, g.x)
        if w <= 0 { return 0 }
        let h = min(d.height + d.y, g.height + g.y) - max(d.y, g.y)
        if h <= 0 { return 0 }
        let i = w * h
        let u = crowd ? d.width * d.height : d.width * d.height + g.width * g.height - i
        return i / u
    }

    /// One image × category × area range (pycocotools' `evaluateImg`).
    private struct ImageEvaluation {
        var scores: [Double]             // detections by descending score, ≤ 100
        var matched: [[Bool]]            // [threshold][detection]: matched to a ground truth with a non-zero id
        var ignored: [[Bool]]            // [threshold][detection]
        var groundTruthIgnored: [Bool]
    }

    /// Evaluates `detections` against `groundTruth`. Throws when a detection names an image that is not in
    /// the ground truth (pycocotools refuses those too) or has a non-finite score or box. Detections of
    /// categories not in the ground truth are not evaluated (as pycocotools). With no detections at all the
    /// statistics are 0 where there are annotations (pycocotools cannot load an empty result list).
    public static func evaluate(groundTruth: COCOGroundTruth, detections: [COCODetection]) throws -> Result {
        let imageIDs = Array(Set(groundTruth.images.map(\.id))).sorted()
        let categoryIDs = Array(Set(groundTruth.categories.map(\.id))).sorted()
        let knownImages = Set(imageIDs), knownCategories = Set(categoryIDs)

        // (image, category) → ground truths in file order / detections in result order (ids from 1, as loadRes).
        struct Key: Hashable { var image: Int64; var category: Int64 }
        var gts: [Key: [COCOGroundTruth.Annotation]] = [:]
        for a in groundTruth.annotations where knownImages.contains(a.imageID) && knownCategories.contains(a.categoryID) {
            gts[Key(image: a.imageID, category: a.categoryID), default: []].append(a)
        }
        var dts: [Key: [(id: Int, det: COCODetection)]] = [:]
        for (n, d) in detections.enumerated() {
            guard knownImages.contains(d.imageID) else {
                throw DatasetError(path: "detections", reason: "detection \(n) is on image id \(d.imageID), which the ground truth does not have")
            }
            guard d.score.isFinite, d.bbox.x.isFinite, d.bbox.y.isFinite, d.bbox.width.isFinite, d.bbox.height.isFinite else {
                throw DatasetError(path: "detections", reason: "detection \(n) has a score or box that is not a finite number")
            }
            guard knownCategories.contains(d.categoryID) else { continue }
            dts[Key(image: d.imageID, category: d.categoryID), default: []].append((n + 1, d))
        }

        let T = iouThresholds.count, R = recallThresholds.count, K = categoryIDs.count, A = areaRanges.count, M = maxDets.count
        let maxDet = maxDets[M - 1]
        // precision[t][r][k][a][m] and recall[t][k][a][m], -1 where absent, flattened.
        var precision = [Double](repeating: -1, count: T * R * K * A * M)
        var recall = [Double](repeating: -1, count: T * K * A * M)
        func pIndex(_ t: Int, _ r: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { (((t * R + r) * K + k) * A + a) * M + m }
        func rIndex(_ t: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { ((t * K + k) * A + a) * M + m }

        for (k, category) in categoryIDs.enumerated() {
            // IoUs per image: [detection (by score, ≤ 100)][ground truth (file order)].
            var perImage: [(gt: [COCOGroundTruth.Annotation], dt: [COCODetection], dtIDs: [Int], ious: [[Double]])] = []
            for image in imageIDs {
                let key = Key(image: image, category: category)
                let g = gts[key] ?? [], dAll = dts[key] ?? []
                if g.isEmpty && dAll.isEmpty { continue }  // evaluateImg returns None
                let order = stableOrder(dAll.map { -$0.det.score })
                let d = order.prefix(maxDet).map { dAll[$0] }
                let ious = d.map { dt in g.map { iou(dt.det.bbox, $0.bbox, crowd: $0.isCrowd) } }
                perImage.append((g, d.map(\.det), d.map(\.id), ious))
            }
            for (a, range) in areaRanges.enumerated() {
                let evaluations = perImage.map { evaluateImage($0.gt, $0.dt, $0.dtIDs, $0.ious, range) }
                for (m, limit) in maxDets.enumerated() {
                    guard !evaluations.isEmpty else { continue }
                    var scores: [Double] = [], matched: [[Bool]] = Array(repeating: [], count: T), ignored = matched
                    var nonIgnoredGT = 0
                    for e in evaluations {
                        let n = min(limit, e.scores.count)
                        scores += e.scores[0..<n]
                        for t in 0..<T { matched[t] += e.matched[t][0..<n]; ignored[t] += e.ignored[t][0..<n] }
                        nonIgnoredGT += e.groundTruthIgnored.filter { !$0 }.count
                    }
                    if nonIgnoredGT == 0 { continue }
                    let order = stableOrder(scores.map { -$0 })
                    for t in 0..<T {
                        var tp = 0.0, fp = 0.0
                        var rc: [Double] = [], pr: [Double] = []
                        rc.reserveCapacity(order.count); pr.reserveCapacity(order.count)
                        for i in order {
                            if !ignored[t][i] { if matched[t][i] { tp += 1 } else { fp += 1 } }
                            rc.append(tp / Double(nonIgnoredGT))
                            pr.append(tp / (fp + tp + Double.ulpOfOne))
                        }
                        recall[rIndex(t, k, a, m)] = rc.last ?? 0
                        if pr.count > 1 { for i in stride(from: pr.count - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
                        for (r, threshold) in recallThresholds.enumerated() {
                            // searchsorted(rc, threshold, side='left'); past the end: 0 from there on.
                            var lo = 0, hi = rc.count
                            while lo < hi { let mid = (lo + hi) / 2; if rc[mid] < threshold { lo = mid + 1 } else { hi = mid } }
                            precision[pIndex(t, r, k, a, m)] = lo < pr.count ? pr[lo] : 0
                        }
                    }
                }
            }
        }

        // summarize()
        func meanAboveMinusOne(_ values: [Double]) -> Double {
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : AveragePrecision.mean(kept)
        }
        func thresholdIndices(_ iouThr: Double?) -> [Int] {
            guard let iouThr else { return Array(0..<T) }
            return iouThresholds.indices.filter { iouThresholds[$0] == iouThr }
        }
        func ap(_ iouThr: Double? = nil, area a: Int = 0, maxDets m: Int = 2) -> Double {
            var values: [Double] = []
            for t in thresholdIndices(iouThr) { for r in 0..<R { for k in 0..<K { values.append(precision[pIndex(t, r, k, a, m)]) } } }
            return meanAboveMinusOne(values)
        }
        func ar(area a: Int = 0, maxDets m: Int = 2) -> Double {
            var values: [Double] = []
            for t in 0..<T { for k in 0..<K { values.append(recall[rIndex(t, k, a, m)]) } }
            return meanAboveMinusOne(values)
        }
        let stats = [ap(), ap(0.5), ap(0.75), ap(area: 1), ap(area: 2), ap(area: 3),
                     ar(maxDets: 0), ar(maxDets: 1), ar(), ar(area: 1), ar(area: 2), ar(area: 3)]
        let perCategory = categoryIDs.enumerated().map { k, id -> (categoryID: Int64, ap: Double, ap50: Double) in
            var all: [Double] = [], at50: [Double] = []
            for t in 0..<T { for r in 0..<R { all.append(precision[pIndex(t, r, k, 0, 2)]) } }
            for r in 0..<R { at50.append(precision[pIndex(0, r, k, 0, 2)]) }
            return (id, meanAboveMinusOne(all), meanAboveMinusOne(at50))
        }
        return Result(stats: stats, perCategory: perCategory)
    }

    /// `np.argsort(keys, kind='mergesort')`: ascending, ties in input order.
    static func stableOrder(_ keys: [Double]) -> [Int] {
        keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
    }

    /// pycocotools' `evaluateImg` for one image, category and area range. `ious[d][g]` with ground truths in file
    /// order; detections already by descending score and at most 100.
    private static func evaluateImage(_ gt: [COCOGroundTruth.Annotation], _ dt: [COCODetection], _ dtIDs: [Int],
                                      _ ious: [[Double]], _ range: (lo: Double, hi: Double)) -> ImageEvaluation {
        let T = iouThresholds.count
        let ignoreFlag = gt.map { $0.isCrowd || $0.area < range.lo || $0.area > range.hi }
        let gOrder = stableOrder(ignoreFlag.map { $0 ? 1 : 0 })  // not-ignored first
        let g = gOrder.map { gt[$0] }
        let gIgnored = gOrder.map { ignoreFlag[$0] }
        var matchedGTID = [[Int64]](repeating: [Int64](repeating: 0, count: dt.count), count: T)
        var dtIgnored = [[Bool]](repeating: [Bool](repeating: false, count: dt.count), count: T)
        if !g.isEmpty && !dt.isEmpty {
            for t in 0..<T {
                var gtMatched = [Bool](repeating: false, count: g.count)
                for d in dt.indices {
                    var best = min(iouThresholds[t], 1 - 1e-10)
                    var m = -1
                    for j in g.indices {
                        if gtMatched[j] && !g[j].isCrowd { continue }
                        if m > -1 && !gIgnored[m] && gIgnored[j] { break }
                        let v = ious[d][gOrder[j]]
                        if v < best { continue }
                        best = v; m = j
                    }
                    if m == -1 { continue }
                    dtIgnored[t][d] = gIgnored[m]
                    matchedGTID[t][d] = g[m].id
                    gtMatched[m] = true  // gtm stores the detection id (≥ 1), so "matched" is simply true
                }
            }
        }
        // Unmatched detections outside the area range are ignored. A match with ground-truth id 0 reads as
        // unmatched, as in pycocotools (dtm == 0).
        var matched = [[Bool]](repeating: [], count: T)
        for t in 0..<T {
            matched[t] = matchedGTID[t].map { $0 != 0 }
            for d in dt.indices {
                let area = dt[d].bbox.width * dt[d].bbox.height
                if !matched[t][d] && (area < range.lo || area > range.hi) { dtIgnored[t][d] = true }
            }
        }
        _ = dtIDs
        return ImageEvaluation(scores: dt.map(\.score), matched: matched, ignored: dtIgnored, groundTruthIgnored: gIgnored)
    }
}
