import ArgumentParser
import YOLOKit

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the models known by name, where they are, and the defaults their files bring (imgsz, task, …).")

    func run() throws {
        for entry in ModelRegistry.entries {
            let location = try? ModelRegistry.resolve(entry.name)
            print("\(entry.name)\(entry.name == ModelRegistry.defaultModel ? " (default)" : "")")
            print("  \(entry.summary)")
            print("  source:   \(entry.source)")
            print("  file:     \(location ?? "not fetched (scripts/fetch-models.sh)")")
            guard location != nil else { continue }
            do {
                let model = try ModelFile.load(entry.name, options: ExecutionOptions(threads: 1))
                print("  defaults: " + model.fileDefaults.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
            } catch {
                print("  error:    \(error)")
            }
        }
    }
}
