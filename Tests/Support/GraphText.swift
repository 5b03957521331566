/// IR text of a graph `@g` from its signature parts and body lines (ending
/// in `return`), for the per-op test graphs.
public func graphText(_ inputs: String, _ output: String, _ lines: String) -> String {
    "graph @g(\(inputs)) -> (\(output)) {\n\(lines)\n}\n"
}
