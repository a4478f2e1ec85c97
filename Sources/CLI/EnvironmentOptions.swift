/// `--some-option` falls back to `TOLLGATE_SOME_OPTION` from the environment: what the spec
/// promises and what a container operator expects. A value on the command line always wins.
import Foundation

public enum EnvironmentOptions {
    /// `arguments` with `--name value` appended for each of `options` that the arguments do not
    /// set and the environment does.
    public static func apply(
        to arguments: [String], options: [String], prefix: String, environment: [String: String]
    ) -> [String] {
        var result = arguments
        for option in options {
            let flag = "--\(option)"
            let present = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            let variable = prefix + option.uppercased().replacingOccurrences(of: "-", with: "_")
            if !present, let value = environment[variable] {
                result.append(contentsOf: [flag, value])
            }
        }
        return result
    }
}
