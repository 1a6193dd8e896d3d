import ArgumentParser
import YOLOKit

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the models known by name and where they are.")

    func run() throws {
        for entry in ModelRegistry.entries {
            let location = (try? ModelRegistry.resolve(entry.name)) ?? "not fetched (scripts/fetch-models.sh)"
            print("\(entry.name)\(entry.name == ModelRegistry.defaultModel ? " (default)" : "")")
            print("  \(entry.summary)")
            print("  source: \(entry.source)")
            print("  file:   \(location)")
        }
    }
}
