import Foundation
import XCTest
@testable import YOLOKit

/// The charts `yolo val` writes: canvas primitives, ticks, the curve charts and the confusion matrices, drawn
/// from synthetic data, encoded as PNG and decoded back. With PLOT_SAMPLES_DIR set, the samples are also written
/// there for looking at.
final class PlotTests: TemporaryFolderTestCase {
    let white = RGBColor(255, 255, 255), black = RGBColor(0, 0, 0)

    // MARK: Synthetic validation data

    /// Curves shaped like real ones: precision falls with recall up to each class's highest recall, then drops
    /// to 0; recall falls with confidence, precision rises.
    static func curves(classes: Int) -> ValidationCurves {
        let x = ValidationCurves.linspace1000
        var pr: [[Double]] = [], f1: [[Double]] = [], p: [[Double]] = [], r: [[Double]] = [], ap: [Double] = []
        for c in 0..<classes {
            let maxRecall = 0.55 + 0.4 * Double((c * 37) % 11) / 10, drop = 0.2 + 0.5 * Double((c * 53) % 7) / 6
            pr.append(x.map { $0 <= maxRecall ? 1 - drop * pow($0 / maxRecall, 3) : 0 })
            ap.append(maxRecall * (1 - drop / 4))
            let rc = x.map { maxRecall * (1 - pow($0, 2 + Double(c % 3))) }
            let pc = x.map { 0.35 + 0.6 * pow($0, 0.5 + 0.2 * Double(c % 4)) }
            r.append(rc); p.append(pc)
            f1.append(zip(pc, rc).map { 2 * $0 * $1 / max($0 + $1, 1e-16) })
        }
        return ValidationCurves(x: x, precisionAtRecall: pr, f1: f1, precision: p, recall: r, ap50: ap,
                                classIndices: Array(0..<classes))
    }

    /// Counts with a strong diagonal, some confusion, and background rows/columns.
    static func confusion(classes: Int) -> [[Double]] {
        let n = classes + 1
        var m = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<classes {
            m[i][i] = Double(20 + (i * 17) % 40)
            m[(i + 1) % classes][i] = Double((i * 7) % 5)
            m[classes][i] = Double(1 + (i * 3) % 6)  // missed: predicted background
            m[i][classes] = Double((i * 5) % 4)  // false positives on background
        }
        return m
    }

    static let names3 = ["person", "bicycle", "a rather long class name"]
    static let names80 = (0..<80).map { "class\($0)" }

    func saveSample(_ image: RGBImage, _ name: String) throws {
        guard let dir = ProcessInfo.processInfo.environment["PLOT_SAMPLES_DIR"] else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(ImageEncoder.pngData(image)).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
    }

    func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> RGBColor {
        let i = (y * image.width + x) * 3
        return RGBColor(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
    }

    /// Whether `color` appears within `radius` pixels of (x, y).
    func hasColor(_ image: RGBImage, near x: Int, _ y: Int, radius: Int = 1, _ color: RGBColor) -> Bool {
        for yy in max(0, y - radius)...min(image.height - 1, y + radius) {
            for xx in max(0, x - radius)...min(image.width - 1, x + radius) where pixel(image, xx, yy) == color { return true }
        }
        return false
    }

    func count(_ image: RGBImage, in r: PixelRect, where test: (RGBColor) -> Bool) -> Int {
        var n = 0
        for y in r.y0..<r.y1 { for x in r.x0..<r.x1 where test(pixel(image, x, y)) { n += 1 } }
        return n
    }

    /// PNG round trip: decoding gives back the image.
    func roundTrip(_ image: RGBImage) throws -> RGBImage {
        let decoded = try ImageDecoder.decode(data: ImageEncoder.pngData(image))
        XCTAssertEqual(decoded.width, image.width)
        XCTAssertEqual(decoded.height, image.height)
        XCTAssertEqual(decoded, image)
        return decoded
    }

    // MARK: Primitives

    func testTicksAreRoundSteps() {
        let unit = Ticks.values(0...1)
        XCTAssertEqual(unit.values.map { Ticks.label($0, decimals: unit.decimals) }, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let counts = Ticks.values(0...57)
        XCTAssertEqual(counts.values.map { Ticks.label($0, decimals: counts.decimals) }, ["0", "10", "20", "30", "40", "50"])
        let small = Ticks.values(0...0.8)
        XCTAssertEqual(small.values.map { Ticks.label($0, decimals: small.decimals) }, ["0.0", "0.2", "0.4", "0.6", "0.8"])
        XCTAssertEqual(Ticks.label(-0.0001, decimals: 1), "0.0")
    }

    func testCanvasLinesAreThickAndClipped() {
        var canvas = Canvas(width: 100, height: 60)
        canvas.line(from: (10, 30), to: (90, 30), lineWidth: 3, color: black)
        XCTAssertEqual(canvas.pixel(x: 50, y: 29), black)
        XCTAssertEqual(canvas.pixel(x: 50, y: 30), black)
        XCTAssertEqual(canvas.pixel(x: 50, y: 31), black)
        XCTAssertEqual(canvas.pixel(x: 50, y: 33), white)
        canvas.clip = PixelRect(x0: 0, y0: 0, x1: 50, y1: 60)
        canvas.line(from: (10, 10), to: (90, 10), lineWidth: 2, color: black)
        XCTAssertEqual(canvas.pixel(x: 49, y: 10), black)
        XCTAssertEqual(canvas.pixel(x: 50, y: 10), white, "drawn outside the clip")
        // A diagonal passes through its midpoint; NaN breaks a polyline.
        canvas.clip = canvas.bounds
        canvas.polyline([(0, 59), (40, 40), (.nan, 0), (60, 40), (99, 59)], lineWidth: 2, color: RGBColor(255, 0, 0))
        XCTAssertEqual(canvas.pixel(x: 20, y: 49), RGBColor(255, 0, 0))
        XCTAssertEqual(canvas.pixel(x: 50, y: 40), white, "a NaN point must break the line")
    }

    func testTextHorizontalAndVerticalLandWhereAsked() {
        var canvas = Canvas(width: 200, height: 200)
        canvas.text("H", x: 100, y: 20, scale: 2, color: black, alignment: .center, baseline: .top)
        // "H" is 10 × 18 px at scale 2, centred on x = 100: ink in columns 95..<105, rows 20..<34.
        let image = canvas.image
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: 95, y0: 20, x1: 105, y1: 34)) { $0 == black }, 20)
        XCTAssertEqual(count(image, in: PixelRect(x0: 0, y0: 0, x1: 200, y1: 20)) { $0 != white }, 0)
        XCTAssertEqual(count(image, in: PixelRect(x0: 105, y0: 0, x1: 200, y1: 200)) { $0 != white }, 0)
        // "HHHH" upwards, centred on y = 100, its tops at x = 50: ink in columns 50..<64, rows 77..<123.
        canvas.verticalText("HHHH", x: 50, y: 100, scale: 2, color: black, alignment: .center, baseline: .top)
        let turned = canvas.image
        let inside = PixelRect(x0: 50, y0: 76, x1: 64, y1: 124)
        XCTAssertGreaterThan(count(turned, in: inside) { $0 == black }, 80)
        XCTAssertEqual(count(turned, in: PixelRect(x0: 0, y0: 40, x1: 50, y1: 200)) { $0 != white }, 0)
        XCTAssertEqual(count(turned, in: PixelRect(x0: 64, y0: 40, x1: 95, y1: 200)) { $0 != white }, 0)
    }

    // MARK: Line charts

    func testLinePlotDrawsAxesTicksAndSeriesWhereTheDataIs() throws {
        let red = RGBColor(255, 0, 0)
        let plot = LinePlot(title: "T", xLabel: "X", yLabel: "Y",
                            series: [.init(x: [0, 1], y: [0.25, 0.75], color: red, lineWidth: 2)],
                            legend: [.init(label: "red line", color: red)])
        let image = try roundTrip(plot.render())
        let f = plot.frame
        XCTAssertEqual(image.width, 1200)
        XCTAssertEqual(image.height, 800)
        for t in [0.1, 0.5, 0.9] {
            let p = f.pixel(x: t, y: 0.25 + 0.5 * t)
            XCTAssertTrue(hasColor(image, near: p.x, p.y, red), "the line must pass through (\(t), \(0.25 + 0.5 * t))")
        }
        // Axis box: black all along the left and bottom edges, just outside the area.
        let a = f.area
        XCTAssertEqual(count(image, in: PixelRect(x0: a.x0 - 1, y0: a.y0, x1: a.x0, y1: a.y1)) { $0 == black }, a.height)
        XCTAssertEqual(count(image, in: PixelRect(x0: a.x0, y0: a.y1, x1: a.x1, y1: a.y1 + 1)) { $0 == black }, a.width)
        // Ticks at 0.0 … 1.0 below the x axis, with labels under them; nothing in between.
        for v in stride(from: 0.0, through: 1.0, by: 0.2) {
            let x = f.pixel(x: v, y: 0).x
            XCTAssertEqual(pixel(image, x, a.y1 + 3), black, "x tick at \(v)")
            XCTAssertGreaterThan(count(image, in: PixelRect(x0: x - 20, y0: a.y1 + 10, x1: x + 20, y1: a.y1 + 35)) { $0 == black }, 30)
            let y = f.pixel(x: 0, y: v).y
            XCTAssertEqual(pixel(image, a.x0 - 4, y), black, "y tick at \(v)")
        }
        XCTAssertEqual(pixel(image, f.pixel(x: 0.1, y: 0).x, a.y1 + 3), white, "no tick at 0.1")
        // The legend, right of the axes, has its line sample.
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: a.x1, y0: a.y0, x1: image.width, y1: a.y0 + 40)) { $0 == red }, 20)
        // Title above, axis labels below and left.
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: 0, y0: 0, x1: image.width, y1: a.y0)) { $0 == black }, 20)
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: 0, y0: 0, x1: 30, y1: image.height)) { $0 == black }, 20)
    }

    func testPRCurveHasEachClassAndTheBoldMean() throws {
        let curves = Self.curves(classes: 3)
        let pr = ClassCurves.precisionRecall(recall: curves.x, precision: curves.precisionAtRecall, ap50: curves.ap50,
                                             names: Self.names3, classIndices: [0, 1, 2])
        let map = curves.ap50.reduce(0, +) / 3
        XCTAssertEqual(pr.allLabel, "all classes " + String(format: "%.3f", map) + " mAP@0.5")
        XCTAssertEqual(pr.classLabels[0], "person " + String(format: "%.3f", curves.ap50[0]))
        let plot = pr.plot()
        let image = try roundTrip(plot.render())
        try saveSample(image, "PR_curve_3.png")
        let f = plot.frame
        // The bold mean is blue where it runs; each class's color is on its curve somewhere above the x axis
        // (where no other curve covers it), and on its legend sample.
        for i in [100, 300, 500] {
            let p = f.pixel(x: curves.x[i], y: pr.all[i])
            XCTAssertTrue(hasColor(image, near: p.x, p.y, ClassCurves.allColor), "bold curve at point \(i)")
        }
        for c in 0..<3 {
            let color = Drawing.color(forClass: c)
            let onCurve = (0..<1000).contains { i in
                let p = f.pixel(x: curves.x[i], y: curves.precisionAtRecall[c][i])
                return p.y < f.area.y1 - 6 && self.hasColor(image, near: p.x, p.y, color)
            }
            XCTAssertTrue(onCurve, "class \(c)'s curve")
            XCTAssertGreaterThan(count(image, in: PixelRect(x0: f.area.x1, y0: 0, x1: image.width, y1: image.height)) { $0 == color }, 20,
                                 "class \(c)'s legend entry")
        }
        XCTAssertEqual(plot.legend.count, 4)
    }

    func testMetricConfidenceCurveFindsTheSmoothedMaximum() {
        // One class, a triangle peaking at 0.6 (index 599): the smoothed mean peaks there too, a bit lower.
        let x = ValidationCurves.linspace1000
        let y = x.map { max(0, 1 - abs($0 - x[599]) * 2) }
        let mc = ClassCurves.metricConfidence(confidence: x, values: [y], metric: "F1", names: ["a"], classIndices: [0])
        let peak = mc.all.max()!
        XCTAssertEqual(mc.all.firstIndex(of: peak), 599)
        XCTAssertLessThan(peak, 1)
        XCTAssertEqual(mc.allLabel, "all classes " + String(format: "%.2f", peak) + " at 0.600")
        XCTAssertEqual(mc.title, "F1-Confidence Curve")
        // Ultralytics' filter for 1000 points is 51 wide at f = 0.05: a step at 500 ramps over 475…525; at
        // f = 0.1 (plot_mc_curve) 101 wide, over 450…550; the ends are padded with the end values.
        let step = (0..<1000).map { $0 < 500 ? 0.0 : 1.0 }
        let s = ClassCurves.smooth(step, fraction: 0.05)
        XCTAssertEqual(s.count, 1000)
        XCTAssertEqual(s[474], 0)
        XCTAssertEqual(s[475], 1.0 / 51, accuracy: 1e-12)
        XCTAssertEqual(s[500], 26.0 / 51, accuracy: 1e-12)
        XCTAssertEqual(s[525], 1)
        let wide = ClassCurves.smooth(step, fraction: 0.1)
        XCTAssertEqual(wide[449], 0)
        XCTAssertEqual(wide[450], 1.0 / 101, accuracy: 1e-12)
        XCTAssertEqual(wide[550], 1)
        XCTAssertEqual(wide[999], 1)
    }

    func testManyClassesKeepTheLegendShortAndTheAxesWide() throws {
        let curves80 = Self.curves(classes: 80)
        let plot80 = ClassCurves.metricConfidence(confidence: curves80.x, values: curves80.f1, metric: "F1",
                                                  names: Self.names80, classIndices: Array(0..<80)).plot()
        XCTAssertEqual(plot80.legend.map(\.label).first, "80 classes")
        XCTAssertEqual(plot80.legend.count, 2)
        let image80 = try roundTrip(plot80.render())
        try saveSample(image80, "F1_curve_80.png")
        XCTAssertGreaterThan(count(image80, in: plot80.frame.area) { $0 == ClassCurves.grey }, 1000)

        // 20 classes (Ultralytics' most with names): all in the legend, which still fits beside the axes.
        let curves20 = Self.curves(classes: 20)
        let plot20 = ClassCurves.precisionRecall(recall: curves20.x, precision: curves20.precisionAtRecall,
                                                 ap50: curves20.ap50, names: Array(Self.names80.prefix(20)),
                                                 classIndices: Array(0..<20)).plot()
        XCTAssertEqual(plot20.legend.count, 21)
        let image20 = try roundTrip(plot20.render())
        try saveSample(image20, "PR_curve_20.png")
        let below = PixelRect(x0: plot20.frame.area.x1 + 40, y0: plot20.frame.area.y1 - 20, x1: image20.width, y1: image20.height)
        XCTAssertEqual(count(image20, in: below) { $0 != self.white }, 0, "the legend runs past the bottom of the axes")

        let curves15 = Self.curves(classes: 15)
        let names15 = (0..<15).map { "a very long class name number \($0) indeed" }
        let plot15 = ClassCurves.precisionRecall(recall: curves15.x, precision: curves15.precisionAtRecall,
                                                 ap50: curves15.ap50, names: names15, classIndices: Array(0..<15))
            .plot(maxLegendClasses: 10)
        XCTAssertEqual(plot15.legend.count, 12)
        XCTAssertEqual(plot15.legend[10].label, "... 5 more")
        XCTAssertNil(plot15.legend[10].color)
        let image15 = try roundTrip(plot15.render())
        try saveSample(image15, "PR_curve_15_long_names.png")
        // Long names are cut, so the axes keep most of the width and the legend stays on the canvas.
        XCTAssertGreaterThan(plot15.frame.area.width, image15.width / 2)
        XCTAssertEqual(count(image15, in: PixelRect(x0: image15.width - 4, y0: 0, x1: image15.width, y1: image15.height)) { $0 != white }, 0)
    }

    // MARK: Confusion matrix

    func testConfusionMatrixCellsNumbersAndNormalization() throws {
        let counts = Self.confusion(classes: 3)
        let heat = ConfusionMatrixPlot.heatmap(counts: counts, names: Self.names3, normalized: false)
        XCTAssertEqual(heat.rowLabels.last, "background")
        XCTAssertEqual(heat.cellDecimals, 0)
        let image = try roundTrip(heat.render())
        try saveSample(image, "confusion_matrix_3.png")
        let (m, cell, bar) = heat.layout
        XCTAssertEqual(m.width, 4 * cell)
        func center(_ r: Int, _ c: Int) -> (Int, Int) { (m.x0 + c * cell + cell / 2, m.y0 + r * cell + cell / 2) }
        func corner(_ r: Int, _ c: Int) -> RGBColor { pixel(image, m.x0 + c * cell + 2, m.y0 + r * cell + 2) }
        // The largest count is the darkest color, a zero cell is blank white, the background corner too.
        let top = counts.joined().max()!
        let (tr, tc) = counts.enumerated().flatMap { r, row in row.enumerated().map { (r, $0.offset, $0.element) } }
            .first { $0.2 == top }.map { ($0.0, $0.1) }!
        XCTAssertEqual(corner(tr, tc), Colormap.blues.color(1))
        XCTAssertEqual(counts[3][3], 0)
        XCTAssertEqual(corner(3, 3), white)
        // Numbers are written in shown cells (white on dark, black on light) and not in blank ones.
        let (cx, cy) = center(tr, tc)
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: cx - cell / 3, y0: cy - cell / 4, x1: cx + cell / 3, y1: cy + cell / 4)) { $0 == self.white }, 10)
        let (bx, by) = center(3, 3)
        XCTAssertEqual(count(image, in: PixelRect(x0: bx - cell / 3, y0: by - cell / 4, x1: bx + cell / 3, y1: by + cell / 4)) { $0 != self.white }, 0)
        // The color bar runs dark (top) to white (bottom); labels on both axes.
        XCTAssertEqual(pixel(image, (bar.x0 + bar.x1) / 2, bar.y0), Colormap.blues.color(1))
        XCTAssertEqual(pixel(image, (bar.x0 + bar.x1) / 2, bar.y1 - 1), Colormap.blues.color(0))
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: 0, y0: m.y0, x1: m.x0, y1: m.y1)) { $0 == self.black }, 200)
        XCTAssertGreaterThan(count(image, in: PixelRect(x0: m.x0, y0: m.y1, x1: m.x1, y1: image.height)) { $0 == self.black }, 200)

        // Normalized: each column over its sum, two decimals.
        let norm = ConfusionMatrixPlot.heatmap(counts: counts, names: Self.names3, normalized: true)
        XCTAssertEqual(norm.title, "Confusion Matrix Normalized")
        XCTAssertEqual(norm.cellDecimals, 2)
        for c in 0..<3 {
            XCTAssertEqual((0..<4).reduce(0) { $0 + norm.values[$1][c] }, 1, accuracy: 1e-6)
        }
        XCTAssertEqual(norm.values[0][0], counts[0][0] / (0..<4).reduce(0) { $0 + counts[$1][0] }, accuracy: 1e-9)
        try saveSample(try roundTrip(norm.render()), "confusion_matrix_normalized_3.png")
    }

    func testConfusionMatrixWithEightyClassesHasNoNumbersAndReadableTicks() throws {
        let heat = ConfusionMatrixPlot.heatmap(counts: Self.confusion(classes: 80), names: Self.names80, normalized: true)
        XCTAssertNil(heat.cellDecimals)
        let image = try roundTrip(heat.render())
        try saveSample(image, "confusion_matrix_normalized_80.png")
        let (m, cell, _) = heat.layout
        XCTAssertGreaterThanOrEqual(cell, 10, "cells too small to see")
        XCTAssertLessThanOrEqual(m.x1, image.width)
        XCTAssertLessThanOrEqual(m.y1, image.height)
        // Tick labels at least one font height apart: not overlapping.
        let ticks = heat.tickLabels
        XCTAssertGreaterThanOrEqual(cell * ticks.every, BitmapFont.height * ticks.scale + 1)
        XCTAssertFalse(heat.columnLabelsAcross)
    }

    func testConfusionMatrixFollowsUltralyticsLimits() {
        // Numbers while classes + background < 30.
        XCTAssertEqual(ConfusionMatrixPlot.heatmap(counts: Self.confusion(classes: 28), names: Array(Self.names80.prefix(28)),
                                                   normalized: true).cellDecimals, 2)
        XCTAssertNil(ConfusionMatrixPlot.heatmap(counts: Self.confusion(classes: 29), names: Array(Self.names80.prefix(29)),
                                                 normalized: true).cellDecimals)
        // 120 classes: every 2nd kept, plus background; names while fewer than 99 cells.
        let names120 = (0..<120).map { "c\($0)" }
        let heat = ConfusionMatrixPlot.heatmap(counts: Self.confusion(classes: 120), names: names120, normalized: false)
        XCTAssertEqual(heat.rowLabels.count, 61)
        XCTAssertEqual(Array(heat.rowLabels.prefix(3)), ["c0", "c2", "c4"])
        XCTAssertEqual(heat.rowLabels.last, "background")
        XCTAssertEqual(heat.values[1][1], Self.confusion(classes: 120)[2][2])
        // White numbers above 0.45 of the largest count.
        let small = ConfusionMatrixPlot.heatmap(counts: Self.confusion(classes: 3), names: Self.names3, normalized: false)
        XCTAssertEqual(small.whiteTextAbove!, 0.45 * 54, accuracy: 1e-9)
    }

    // MARK: Files

    func testWriteCreatesEveryPNGAtomically() throws {
        let folder = tempDir.appendingPathComponent("val").path
        let paths = try ValidationPlots.write(to: folder, curves: Self.curves(classes: 3),
                                              confusion: Self.confusion(classes: 3), names: Self.names3)
        XCTAssertEqual(paths.map { ($0 as NSString).lastPathComponent },
                       ["BoxPR_curve.png", "BoxF1_curve.png", "BoxP_curve.png", "BoxR_curve.png",
                        "confusion_matrix.png", "confusion_matrix_normalized.png"])
        for path in paths {
            let image = try ImageDecoder.decode(contentsOf: path)
            XCTAssertGreaterThanOrEqual(image.width, 640)
            XCTAssertGreaterThanOrEqual(image.height, 480)
            try saveSample(image, (path as NSString).lastPathComponent)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
                       paths.map { ($0 as NSString).lastPathComponent }.sorted(), "temporary files left behind")

        // A folder that cannot be made: the error names it.
        let blocker = try writeTemp("blocker", [1])
        XCTAssertThrowsError(try ValidationPlots.write(to: blocker + "/val", curves: Self.curves(classes: 3),
                                                       confusion: Self.confusion(classes: 3), names: Self.names3)) { error in
            XCTAssertTrue("\(error)".contains(blocker), "\(error)")
        }
    }

    func testNoClassesStillDrawsTheAxes() throws {
        let empty = ValidationCurves(x: ValidationCurves.linspace1000, precisionAtRecall: [], f1: [], precision: [],
                                     recall: [], ap50: [], classIndices: [])
        let images = ValidationPlots.images(curves: empty, confusion: [[0, 0], [0, 0]], names: ["only"])
        XCTAssertEqual(images.count, 6)
        for (_, image) in images { _ = try roundTrip(image) }
    }
}
