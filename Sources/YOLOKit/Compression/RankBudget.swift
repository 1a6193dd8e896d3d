/// The per-conv rank choice of `LowRankOptions.Rank.errorBudget`: each conv may stay whole or take one of its
/// candidate ranks, each saving some measured time and adding some output error; the most time saved with the errors'
/// sum within the budget (a multiple-choice knapsack), by greedy upgrades — every conv starts whole, and each step
/// moves one conv to a rank that saves more time, the move with the most time saved per unit of error added that
/// still fits (a move that adds no error first).
enum RankBudget {
    struct Option: Equatable {
        /// Milliseconds saved against the original conv (positive).
        let saved: Double
        /// Estimated output error added (`OutputSensitivity`), ≥ 0.
        let error: Double
    }

    /// The chosen option of each conv (an index into its options), nil where it stays whole.
    static func choose(_ options: [[Option]], budget: Double) -> [Int?] {
        var chosen = [Int?](repeating: nil, count: options.count), used = 0.0
        while true {
            var best: (conv: Int, option: Int, perError: Double)?
            for (c, choices) in options.enumerated() {
                let saved = chosen[c].map { choices[$0].saved } ?? 0, error = chosen[c].map { choices[$0].error } ?? 0
                for (k, o) in choices.enumerated() where o.saved > saved && used + (o.error - error) <= budget {
                    let perError = (o.saved - saved) / max(o.error - error, 1e-15)
                    if best == nil || perError > best!.perError { best = (c, k, perError) }
                }
            }
            guard let move = best else { return chosen }
            used += options[move.conv][move.option].error - (chosen[move.conv].map { options[move.conv][$0].error } ?? 0)
            chosen[move.conv] = move.option
        }
    }
}
