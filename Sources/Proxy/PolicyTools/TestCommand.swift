import ArgumentParser
import CLI
import Core
import Foundation

/// `tollgate-proxy test`: proves in CI what a policy change decides, before it ships (spec/policy.md
/// "Policy tests"). Exit 0 when every case passed, 1 when any failed, 2 for a usage error or an
/// invalid policy set or test file (every problem printed as `FILE:LINE:COL: PATH: message`).
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run policy test cases through the sidecar's own phases, in-process, on a clock the runner controls.",
        discussion: "Exit status: 0 all passed, 1 any failed, 2 usage error or invalid policy/test file.")

    @Option(help: "The policy directory.")
    var policies: String = "./policies"

    @Argument(help: "Test files or directories (searched for *.yaml / *.yml).")
    var tests: [String] = ["./policy-tests"]

    @Option(help: "Also write the results as JUnit XML to this file.")
    var junit: String?

    @Flag(help: "Print every request of every case with its decision.")
    var verbose = false

    func run() throws {
        let snapshot = try Self.loadPolicySet(policies)
        let paths = try Self.testFiles(tests)
        var files: [PolicyTestFile] = []
        var problems: [PolicyDiagnostic] = []
        for path in paths {
            switch PolicyTestFile.load(path: path, snapshot: snapshot) {
            case let .success(file): files.append(file)
            case let .failure(error): problems += error.diagnostics
            }
        }
        guard problems.isEmpty else {
            for problem in problems { CommandLineMain.printError(problem.description) }
            CommandLineMain.printError("invalid test files: \(problems.count) error\(problems.count == 1 ? "" : "s")")
            throw ExitCode(CommandLineMain.usageError)
        }
        let runner: PolicyTestRunner
        do {
            runner = try PolicyTestRunner(snapshot: snapshot, files: files)
        } catch {
            CommandLineMain.printError("\(error)")
            throw ExitCode(CommandLineMain.usageError)
        }

        var results: [PolicyTestRunner.CaseResult] = []
        for file in files {
            for result in runner.run(file) {
                results.append(result)
                print(Self.line(for: result))
                if verbose {
                    for (index, step) in result.steps.enumerated() { print(Self.line(for: step, number: index + 1)) }
                }
            }
        }
        let failed = results.filter { !$0.passed }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if let junit {
            do {
                try Data(JUnitReport.xml(results, suiteOrder: files.map(\.path)).utf8).write(to: URL(fileURLWithPath: junit))
            } catch {
                CommandLineMain.printError("cannot write \(junit): \(error.localizedDescription)")
                throw ExitCode(CommandLineMain.usageError)
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// The policy set the tools run on; an invalid one is printed like `validate` does, exit 2.
    static func loadPolicySet(_ directory: String) throws -> PolicySnapshot {
        do {
            return try PolicyLoader.load(directory: directory)
        } catch {
            for diagnostic in error.diagnostics { CommandLineMain.printError(diagnostic.description) }
            let count = error.diagnostics.count
            CommandLineMain.printError("\(directory): invalid policy set: \(count) error\(count == 1 ? "" : "s")")
            throw ExitCode(CommandLineMain.usageError)
        }
    }

    /// `ok   FILE: NAME`, or `FAIL FILE:LINE:COL: NAME: expected …, got …; …`.
    static func line(for result: PolicyTestRunner.CaseResult) -> String {
        result.passed
            ? "ok   \(result.file): \(result.name)"
            : "FAIL \(result.location): \(result.name): \(result.failures.joined(separator: "; "))"
    }

    static func line(for step: PolicyTestRunner.Step, number: Int) -> String {
        let outcome = step.outcome
        let time = String(format: "%.3f", step.time)
        return "       #\(number) t=\(time)s \(step.request.method) \(step.request.target) -> \(outcome.status) "
            + "route=\(outcome.route?.name ?? "none") decision=\(outcome.decision)"
    }

    /// Every `*.yaml` / `*.yml` below each directory (sorted), and each file as given.
    static func testFiles(_ arguments: [String]) throws -> [String] {
        var paths: [String] = []
        let manager = FileManager.default
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                throw ValidationError("\(argument): no such test file or directory")
            }
            if !isDirectory.boolValue {
                paths.append(argument)
                continue
            }
            let found = (manager.enumerator(atPath: argument)?.compactMap { $0 as? String } ?? [])
                .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.split(separator: "/").contains { $0.hasPrefix(".") } }
                .sorted()
            let prefix = argument.hasSuffix("/") ? argument : argument + "/"
            paths += found.map { prefix + $0 }
        }
        guard !paths.isEmpty else { throw ValidationError("no test files (*.yaml, *.yml) in \(arguments.joined(separator: ", "))") }
        return paths
    }
}

/// JUnit XML as CI systems read it: one `<testsuite>` per test file, one `<testcase>` per case.
enum JUnitReport {
    static func xml(_ results: [PolicyTestRunner.CaseResult], suiteOrder: [String]) -> String {
        var out = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        let failures = results.filter { !$0.passed }.count
        out += #"<testsuites name="tollgate-proxy test" tests="\#(results.count)" failures="\#(failures)">"# + "\n"
        for file in suiteOrder {
            let cases = results.filter { $0.file == file }
            let failed = cases.filter { !$0.passed }.count
            out += #"  <testsuite name="\#(escape(file))" tests="\#(cases.count)" failures="\#(failed)" errors="0" skipped="0">"# + "\n"
            for result in cases {
                let attributes = #"name="\#(escape(result.name))" classname="\#(escape(file))" file="\#(escape(file))" line="\#(result.location.line)""#
                if result.passed {
                    out += "    <testcase \(attributes)/>\n"
                } else {
                    let message = result.failures.joined(separator: "; ")
                    out += "    <testcase \(attributes)>\n"
                    out += #"      <failure message="\#(escape(message))" type="PolicyTestFailure">"#
                    out += escape(result.failures.joined(separator: "\n")) + "</failure>\n"
                    out += "    </testcase>\n"
                }
            }
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }

    /// Text and attribute values: the five XML entities, and no control characters XML 1.0 forbids.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 { out += "?" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
