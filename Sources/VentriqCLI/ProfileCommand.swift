import ArgumentParser
import Foundation
import Ventriq
import VentriqProfiles

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Work with firmware profiles.",
        subcommands: [Validate.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a firmware profile against a model: rates, leads, window and hop, thresholds, budgets.",
            discussion: "Prints one line per problem (error or warning) naming the key. Exit status 1 when there is an error."
        )

        @Argument(help: "The profile (.toml).")
        var file: String

        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            let profile: FirmwareProfile
            do { profile = try FirmwareProfile.load(contentsOf: URL(fileURLWithPath: file)) } catch {
                diagnose("error: \(error)")
                throw ExitCode(1)
            }
            let model = try modelOptions.load()
            let arena = try Interpreter.prepared(model: model).memory?.arenaBytes
            let issues = profile.validate(against: model.config, arenaBytes: arena)
            for issue in issues { print("\(file): \(issue)") }
            if issues.hasErrors { throw ExitCode(1) }
            print("\(file): ok for model \(model.config.name) (\(model.precision.rawValue)); "
                  + "\(issues.warnings.count) warning(s); device \(profile.device.name), source \(profile.source.kind.rawValue)")
        }
    }
}
