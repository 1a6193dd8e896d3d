import Foundation
import YOLOKit

/// `yolo val` output: Ultralytics' table (its `%22s%11i%11i%11.3g…` rows, "all" first, then each class with labels)
/// or one JSON object with its `results_dict` keys, `per_class` and `speed`.
enum ValidationTable {
    static func text(_ report: ValidationReport, model: String, cocoStats: COCOEvaluation.Result?) -> String {
        let m = report.metrics
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func row(_ name: String, _ images: Int, _ instances: Int, _ values: [Double]) -> String {
            pad(name, 22) + pad("\(images)", 11) + pad("\(instances)", 11) + values.map { String(format: "%11.3g", $0) }.joined()
        }
        var lines = [model,
                     pad("Class", 22) + ["Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)"].map { pad($0, 11) }.joined(),
                     row("all", m.images, m.instances, [m.precision, m.recall, m.mAP50, m.mAP50_95])]
        if m.perClass.count > 1 {
            for c in m.perClass { lines.append(row(c.name, c.images, c.instances, [c.precision, c.recall, c.mAP50, c.mAP50_95])) }
        }
        let s = report.speed
        lines.append(String(format: "Speed: %.1fms decode, %.1fms preprocess, %.1fms inference, %.1fms postprocess per image", s.decode, s.preprocess, s.inference, s.postprocess))
        if let cocoStats {
            lines.append("COCOeval (bbox):")
            for (name, value) in zip(COCOEvaluation.Result.statNames, cocoStats.stats) { lines.append(String(format: " %@ = %.3f", name as NSString, value)) }
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ report: ValidationReport, cocoStats: COCOEvaluation.Result?) -> JSONValue {
        let m = report.metrics
        let keys = ["metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "fitness"]  // Ultralytics' order
        var fields: [(String, JSONValue)] = keys.map { ($0, .number(m.resultsDict[$0] ?? .nan)) }
        fields.append(("images", .number(Double(m.images))))
        fields.append(("instances", .number(Double(m.instances))))
        fields.append(("per_class", .array(m.perClass.map { c in
            .object([("class", .number(Double(c.classIndex))), ("name", .string(c.name)), ("images", .number(Double(c.images))),
                     ("instances", .number(Double(c.instances))), ("precision", .number(c.precision)), ("recall", .number(c.recall)),
                     ("mAP50", .number(c.mAP50)), ("mAP50-95", .number(c.mAP50_95))])
        })))
        let s = report.speed
        fields.append(("speed", .object([("decode", .number(s.decode)), ("preprocess", .number(s.preprocess)),
                                         ("inference", .number(s.inference)), ("postprocess", .number(s.postprocess))])))
        fields.append(("left_out", .array(report.failures.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) })))
        if let cocoStats {
            fields.append(("coco_eval", .object(zip(COCOEvaluation.Result.statNames, cocoStats.stats).map { ($0, .number($1)) })))
        }
        return .object(fields)
    }
}
