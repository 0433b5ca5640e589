using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PunkGrid.Silo.Reports;

/// <summary>
/// The Markdown tables of docs/RESULTS.md from the JSON lines that <c>silo train … --json</c> prints, one run a line: what
/// the docs' scripts collect, formatted here instead of by Python inside bash.
/// </summary>
public static class TrainingReports
{
    public static readonly IReadOnlyList<string> Kinds = ["traits", "pokemon"];

    /// <summary>Every non-blank line of <paramref name="jsonLines"/> as a JSON object; a bad line is an error naming it.</summary>
    public static IReadOnlyList<JsonElement> Parse(string jsonLines, string source)
    {
        var rows = new List<JsonElement>();
        var number = 0;
        foreach (var line in jsonLines.Split('\n'))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                using var document = JsonDocument.Parse(line);
                rows.Add(document.RootElement.Clone());
            }
            catch (JsonException ex)
            {
                throw new FormatException($"{source} line {number} is not a JSON object: {ex.Message}", ex);
            }
        }
        return rows;
    }

    /// <summary>Trait runs in gray and rgb side by side: accuracy, precision, recall and F1 of each, and the change in F1.</summary>
    public static string Traits(IReadOnlyList<JsonElement> runs)
    {
        var text = new StringBuilder();
        text.AppendLine("| trait | test positives | gray acc | gray P | gray R | gray F1 | rgb acc | rgb P | rgb R | rgb F1 | ΔF1 |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var byTrait = new Dictionary<string, Dictionary<string, JsonElement>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var run in runs)
        {
            var trait = Text(run, "trait");
            if (!byTrait.TryGetValue(trait, out var colours))
            {
                byTrait[trait] = colours = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                order.Add(trait);
            }
            colours[Text(run, "color")] = run;
        }
        foreach (var trait in order)
        {
            var colours = byTrait[trait];
            if (!colours.TryGetValue("gray", out var gray) || !colours.TryGetValue("rgb", out var rgb))
            {
                continue; // a trait needs both runs for a row
            }
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {trait} | {Number(gray, "test_positives")} | {F(gray, "accuracy")} | {F(gray, "precision")} | {F(gray, "recall")} | {F(gray, "f1")} " +
                $"| {F(rgb, "accuracy")} | {F(rgb, "precision")} | {F(rgb, "recall")} | {F(rgb, "f1")} " +
                $"| {(Value(rgb, "f1") - Value(gray, "f1")).ToString("+0.0000;-0.0000;+0.0000", CultureInfo.InvariantCulture)} |");
        }
        return text.ToString();
    }

    /// <summary>Pokémon runs: backbone, split, input size, top-1/top-5, the best validation epoch, the split's near-duplicates.</summary>
    public static string Pokemon(IReadOnlyList<JsonElement> runs)
    {
        var text = new StringBuilder();
        text.AppendLine("| backbone | split | input | test top-1 | test top-5 | best validation top-1 (epoch) | near-duplicate pairs across splits | classes | train / val / test | seconds |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
        foreach (var run in runs)
        {
            var duplicates = Property(run, "duplicates");
            var backbone = run.TryGetProperty("backbone", out var b) ? b.GetString()! : "mobilenetv3-small";
            if (backbone != "mobilenetv3-small")
            {
                backbone += $", fine_tune={(run.TryGetProperty("fine_tune", out var f) ? f.GetString() : "none")}";
            }
            backbone += $" ({Text(run, "profile")})";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {backbone} | {Text(duplicates, "split_used")} | {Number(run, "image_size")} | {F(run, "top1")} | {F(run, "top5")} " +
                $"| {F(run, "best_validation_accuracy")} ({Number(run, "best_epoch")}) | {Number(duplicates, "cross_split_pairs")} of {Number(duplicates, "near_duplicate_pairs")} " +
                $"| {Number(run, "classes")} | {Number(run, "train_count")} / {Number(run, "validation_count")} / {Number(run, "test_count")} | {F(run, "seconds", 0)} |");
        }
        return text.ToString();
    }

    /// <summary>A run's field; a run without it is a <see cref="FormatException"/> naming the field.</summary>
    private static JsonElement Property(JsonElement row, string name) =>
        row.ValueKind == JsonValueKind.Object && row.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : throw new FormatException($"a run has no '{name}' (is this the output of `silo train … --json` for this kind?)");

    private static string Text(JsonElement row, string name) => Property(row, name).GetString() ?? "";

    private static double Value(JsonElement row, string name) => Property(row, name).GetDouble();

    private static string F(JsonElement row, string name, int digits = 4) => Value(row, name).ToString($"F{digits}", CultureInfo.InvariantCulture);

    private static string Number(JsonElement row, string name) => Property(row, name).GetRawText();
}
