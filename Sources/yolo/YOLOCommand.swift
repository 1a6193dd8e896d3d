import ArgumentParser

@main
struct YOLOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yolo",
        abstract: "YOLO object detection on the CPU (OpenBLAS), for Darknet and Ultralytics models.",
        subcommands: [DetectCommand.self, BenchCommand.self, ModelsCommand.self],
        defaultSubcommand: nil
    )
}
