import ArgumentParser
import Foundation

@main
struct YOLOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yolo",
        abstract: "YOLO object detection on the CPU (OpenBLAS), for Darknet and Ultralytics models.",
        subcommands: [DetectCommand.self, ValCommand.self, TrainCommand.self, BenchCommand.self, InfoCommand.self, ExportCommand.self, PruneCommand.self, CompressCommand.self, QuantizeCommand.self, ModelsCommand.self],
        defaultSubcommand: nil
    )

    /// As ArgumentParser's `main`, but every usage error (unknown flag, missing or malformed value) exits with
    /// status 2, like our own checks of values, instead of ArgumentParser's EX_USAGE (64): scripts see one code.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
