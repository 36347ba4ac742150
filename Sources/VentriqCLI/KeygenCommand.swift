import ArgumentParser
import Foundation
import Ventriq

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an Ed25519 key pair for signing models (ventriq-quantize --sign).",
        discussion: """
            Writes PREFIX.key (private, mode 0600) and PREFIX.pub (public). Give the .key to \
            `ventriq-quantize --sign`; put the .pub in the devices' trusted-keys directory \
            (--trusted-keys, $VENTRIQ_TRUSTED_KEYS or /etc/ventriq/trusted-keys). Never overwrites \
            an existing file.
            """
    )

    @Argument(help: "Path prefix of the two files, e.g. keys/cart-fleet.")
    var prefix: String

    @Option(name: .long, help: "A comment stored in the public key file.")
    var comment: String?

    func run() throws {
        let key = SigningKey.generate()
        do {
            try key.write(privateTo: URL(fileURLWithPath: prefix + ".key"), publicTo: URL(fileURLWithPath: prefix + ".pub"), comment: comment)
        } catch {
            diagnose("error: \(error)")
            throw ExitCode(1)
        }
        print("key id \(key.id): private \(prefix).key (keep it secret), public \(prefix).pub (trust it on devices)")
    }
}
