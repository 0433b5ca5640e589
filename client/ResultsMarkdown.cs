using System.Text;

namespace PunkGrid.Client;

/// <summary>
/// A sweep's per-trait results as a Markdown table (what <c>docs/RESULTS.md</c> holds): one row per trait that has an F1;
/// several runs side by side (precision, recall and F1 of each, and each later run's F1 change from the first); then a
/// line per run: traits scored, mean F1, traits at F1 ≥ the threshold, the lowest five.
/// </summary>
public static class ResultsMarkdown
{
    public static string Render(IReadOnlyList<(string Run, IReadOnlyList<TraitResultRow> Rows)> runs, double threshold)
    {
        var scored = runs.Select(r => (r.Run, Rows: r.Rows.Where(x => x.F1 is not null)
            .GroupBy(x => x.Trait, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal))).ToList();
        var traits = scored.SelectMany(r => r.Rows.Keys).Distinct(StringComparer.Ordinal)
            .OrderBy(t => t.ToLowerInvariant(), StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        if (scored.Count == 1)
        {
            text.AppendLine("| trait | accuracy | precision | recall | F1 | test positives | seconds |");
            text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var trait in traits)
            {
                var r = scored[0].Rows[trait];
                text.AppendLine(Row(trait, F(r.Accuracy), F(r.Precision), F(r.Recall), F(r.F1), Count(r.TestPositives), F(r.Seconds, 1)));
            }
        }
        else
        {
            var head = new List<string> { "trait", "test positives" };
            head.AddRange(scored.SelectMany(r => new[] { $"{r.Run} P", $"{r.Run} R", $"{r.Run} F1" }));
            head.AddRange(scored.Skip(1).Select(r => $"ΔF1 {r.Run}"));
            text.AppendLine(Row([.. head]));
            text.AppendLine("| --- | " + string.Join(" | ", head.Skip(1).Select(_ => "---:")) + " |");
            foreach (var trait in traits)
            {
                var rows = scored.Select(r => r.Rows.GetValueOrDefault(trait)).ToList();
                var cells = new List<string> { trait, Count(rows.FirstOrDefault(r => r is not null)?.TestPositives) };
                cells.AddRange(rows.SelectMany(r => new[] { F(r?.Precision), F(r?.Recall), F(r?.F1) }));
                cells.AddRange(rows.Skip(1).Select(r => r is not null && rows[0] is { } first
                    ? (r.F1!.Value - first.F1!.Value).ToString("+0.0000;-0.0000;+0.0000", CultureInfo.InvariantCulture)
                    : ""));
                text.AppendLine(Row([.. cells]));
            }
        }
        text.AppendLine();
        foreach (var (run, rows) in scored)
        {
            var f1 = rows.Values.Select(r => r.F1!.Value).ToList();
            var mean = f1.Count == 0 ? 0 : f1.Average();
            var lowest = string.Join(", ", rows.Values.OrderBy(r => r.F1).Take(5).Select(r => $"{r.Trait} {r.F1!.Value.ToString("F3", CultureInfo.InvariantCulture)}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"- `{run}`: {rows.Count} traits, mean F1 {mean.ToString("F4", CultureInfo.InvariantCulture)}, " +
                $"{f1.Count(v => v >= threshold)} at F1 ≥ {threshold.ToString(CultureInfo.InvariantCulture)}; lowest: {lowest}");
        }
        return text.ToString();
    }

    private static string F(double? value, int digits = 4) => value?.ToString($"F{digits}", CultureInfo.InvariantCulture) ?? "";

    private static string Count(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string Row(params string[] cells) => "| " + string.Join(" | ", cells) + " |";
}
