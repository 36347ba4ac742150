import ArgumentParser

@main
struct VentriqCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ventriq", abstract: "Ventriq runtime")
}
