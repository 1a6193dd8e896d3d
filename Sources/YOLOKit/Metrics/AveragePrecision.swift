/// Ultralytics' precision/recall/AP arithmetic (ultralytics 8.4.x `utils/metrics.py`: `compute_ap`,
/// `ap_per_class`, `smooth`), with the numpy functions they use written out so the numbers agree to rounding.
public enum AveragePrecision {
    /// `np.linspace(0, 1, n)`: `i * (1 / (n - 1))`, the last point exactly 1.
    static func linspace01(_ n: Int) -> [Double] {
        let step = 1.0 / Double(n - 1)
        var x = (0..<n).map { Double($0) * step }
        x[n - 1] = 1
        return x
    }

    /// The 101 recall points of COCO-style AP.
    static let recallPoints = linspace01(101)
    /// The 1000 confidence points of the P/R/F1 curves.
    public static let confidencePoints = linspace01(1000)

    /// `np.interp(x, xp, fp, left, right)` for non-decreasing `xp` (ties allowed): the last `xp[j] <= x` is
    /// used, exact hits and the last point return `fp[j]`, else the line to `j + 1` (as numpy's C loop).
    static func interp(_ x: Double, _ xp: [Double], _ fp: [Double], left: Double? = nil, right: Double? = nil) -> Double {
        let n = xp.count
        if x.isNaN { return x }
        if x > xp[n - 1] { return right ?? fp[n - 1] }
        if x < xp[0] { return left ?? fp[0] }
        // Largest j with xp[j] <= x.
        var lo = 0, hi = n
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if x >= xp[mid] { lo = mid + 1 } else { hi = mid }
        }
        let j = lo - 1
        if j == n - 1 || xp[j] == x { return fp[j] }
        let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
        var y = slope * (x - xp[j]) + fp[j]
        if y.isNaN {
            y = slope * (x - xp[j + 1]) + fp[j + 1]
            if y.isNaN && fp[j] == fp[j + 1] { y = fp[j] }
        }
        return y
    }

    /// numpy's float64 sum of a contiguous array (pairwise, eight accumulators per block of ≤ 128).
    static func numpySum(_ a: ArraySlice<Double>) -> Double {
        let n = a.count, base = a.startIndex
        if n < 8 {
            var s = -0.0  // numpy starts from -0.0 so that sums of -0.0 stay -0.0
            for v in a { s += v }
            return s
        }
        if n <= 128 {
            var r = (0..<8).map { a[base + $0] }
            var i = 8
            while i < n - n % 8 {
                for k in 0..<8 { r[k] += a[base + i + k] }
                i += 8
            }
            var s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { s += a[base + i]; i += 1 }
            return s
        }
        var n2 = n / 2
        n2 -= n2 % 8
        return numpySum(a[base..<(base + n2)]) + numpySum(a[(base + n2)...])
    }

    static func mean(_ a: [Double]) -> Double { a.isEmpty ? .nan : numpySum(a[...]) / Double(a.count) }

    /// `np.trapezoid(y, x)`.
    static func trapezoid(_ y: [Double], _ x: [Double]) -> Double {
        guard y.count > 1 else { return 0 }
        var terms = [Double](repeating: 0, count: y.count - 1)
        for i in terms.indices {
            let dx: Double = x[i + 1] - x[i]
            let sy: Double = y[i + 1] + y[i]
            terms[i] = dx * sy / 2.0
        }
        return numpySum(terms[...])
    }

    /// `compute_ap(recall, precision)`: sentinels, precision envelope (running max from the right), `np.interp`
    /// at 101 recall points, trapezoid rule. Returns (ap, mpre, mrec).
    public static func computeAP(recall: [Double], precision: [Double]) -> (ap: Double, precisionEnvelope: [Double], recall: [Double]) {
        let mrec = [0.0] + recall + [recall.last ?? 1.0, 1.0]
        var mpre = [1.0] + precision + [0.0, 0.0]
        if mpre.count > 1 {
            for i in stride(from: mpre.count - 2, through: 0, by: -1) {
                let a = mpre[i], b = mpre[i + 1]
                mpre[i] = (a.isNaN || b.isNaN) ? .nan : Swift.max(a, b)  // np.maximum propagates NaN
            }
        }
        let y = recallPoints.map { interp($0, mrec, mpre) }
        return (trapezoid(y, recallPoints), mpre, mrec)
    }

    /// `smooth(y, f)`: box filter `round(len·f·2) // 2 + 1` wide, ends padded with the end values.
    static func smooth(_ y: [Double], fraction f: Double = 0.05) -> [Double] {
        let nf = Int((Double(y.count) * f * 2).rounded(.toNearestOrEven)) / 2 + 1
        let pad = nf / 2
        let padded = [Double](repeating: y[0], count: pad) + y + [Double](repeating: y[y.count - 1], count: pad)
        let w = 1.0 / Double(nf)
        return (0..<y.count).map { i in
            var s = 0.0
            for k in 0..<nf { s += padded[i + k] * w }
            return s
        }
    }

    /// What `ap_per_class` returns, for the classes that have labels (ascending class id).
    public struct PerClass: Sendable {
        /// Classes with at least one label, ascending.
        public var classes: [Int]
        /// Labels per class in `classes`.
        public var labelCounts: [Int]
        /// Precision, recall and F1 per class at the confidence that maximises the smoothed mean F1.
        public var precision: [Double]
        public var recall: [Double]
        public var f1: [Double]
        /// AP per class at each IoU threshold: `[class][threshold]`.
        public var ap: [[Double]]
        /// The index into `AveragePrecision.confidencePoints` of that confidence.
        public var bestF1Index: Int
        /// Curves over `confidencePoints` per class: precision, recall, F1 against confidence; precision against
        /// recall at IoU 0.5 (what Ultralytics plots).
        public var precisionCurve: [[Double]]
        public var recallCurve: [[Double]]
        public var f1Curve: [[Double]]
        public var precisionAtRecall: [[Double]]
    }

    /// `ap_per_class(tp, conf, pred_cls, target_cls)`. `correct[i]` is prediction i's row of `correct`
    /// (one Bool per IoU threshold). Predictions are ranked by descending confidence with ties kept in input
    /// order (numpy's default sort leaves the order of ties to the CPU's sorting kernel; a stable order is the
    /// definite choice).
    public static func perClass(correct: [[Bool]], confidence: [Float], predictedClass: [Int], labelClasses: [Int], thresholdCount: Int = 10) -> PerClass {
        let eps = 1e-16
        let order = confidence.indices.sorted { a, b in
            confidence[a] > confidence[b] || (confidence[a] == confidence[b] && a < b)
        }
        var counts: [Int: Int] = [:]
        for c in labelClasses { counts[c, default: 0] += 1 }
        let classes = counts.keys.sorted()
        let x = confidencePoints, negX = x.map { -$0 }
        var ap = [[Double]](repeating: [Double](repeating: 0, count: thresholdCount), count: classes.count)
        var pCurve = [[Double]](repeating: [Double](repeating: 0, count: x.count), count: classes.count)
        var rCurve = pCurve, precisionAtRecall = pCurve
        for (ci, c) in classes.enumerated() {
            let members = order.filter { predictedClass[$0] == c }
            let nl = counts[c]!
            guard !members.isEmpty else { continue }
            let negConf = members.map { -Double(confidence[$0]) }
            var tpc = [Double](repeating: 0, count: thresholdCount)
            var recall = [[Double]](repeating: [], count: thresholdCount)
            var precision = [[Double]](repeating: [], count: thresholdCount)
            for (k, m) in members.enumerated() {
                for t in 0..<thresholdCount {
                    if correct[m][t] { tpc[t] += 1 }
                    let fpc = Double(k + 1) - tpc[t]
                    recall[t].append(tpc[t] / (Double(nl) + eps))
                    precision[t].append(tpc[t] / (tpc[t] + fpc))
                }
            }
            rCurve[ci] = negX.map { interp($0, negConf, recall[0], left: 0) }
            pCurve[ci] = negX.map { interp($0, negConf, precision[0], left: 1) }
            for t in 0..<thresholdCount {
                let result = computeAP(recall: recall[t], precision: precision[t])
                ap[ci][t] = result.ap
                if t == 0 { precisionAtRecall[ci] = x.map { interp($0, result.recall, result.precisionEnvelope) } }
            }
        }
        let f1Curve = zip(pCurve, rCurve).map { p, r in (0..<x.count).map { 2 * p[$0] * r[$0] / (p[$0] + r[$0] + eps) } }
        var best = 0
        if !classes.isEmpty {
            var meanF1 = f1Curve[0]
            for row in f1Curve.dropFirst() { for i in meanF1.indices { meanF1[i] += row[i] } }
            meanF1 = meanF1.map { $0 / Double(classes.count) }
            let smoothed = smooth(meanF1, fraction: 0.1)
            for i in smoothed.indices where smoothed[i] > smoothed[best] || (smoothed[best].isNaN == false && smoothed[i].isNaN) { best = i }
        }
        return PerClass(classes: classes, labelCounts: classes.map { counts[$0]! },
                        precision: pCurve.map { $0[best] }, recall: rCurve.map { $0[best] }, f1: f1Curve.map { $0[best] },
                        ap: ap, bestF1Index: best, precisionCurve: pCurve, recallCurve: rCurve, f1Curve: f1Curve,
                        precisionAtRecall: precisionAtRecall)
    }
}
