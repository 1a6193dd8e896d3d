import Foundation
import YOLOKit

/// The PNG plots of a validation run (filled in when the plotting code lands).
enum ValidationPlotFiles {
    static func write(_ report: ValidationReport, names: [String], to folder: String) throws -> [String] { [] }
}
