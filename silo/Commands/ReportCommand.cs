using PunkGrid.Silo.Reports;

namespace PunkGrid.Silo;

/// <summary><c>silo report traits|pokemon FILE.jsonl</c>: the Markdown tables of docs/RESULTS.md from <c>silo train --json</c> lines.</summary>
public static partial class SiloCommandLine
{
    private static Command ReportCommand(TextWriter stdout, TextWriter stderr)
    {
        var report = new Command("report", "Markdown tables of docs/RESULTS.md from the JSON lines `silo train … --json` printed, one run a line.");
        foreach (var kind in TrainingReports.Kinds)
        {
            var command = new Command(kind, kind == "traits"
                ? "Trait runs in gray and rgb side by side (accuracy, precision, recall, F1 and ΔF1)."
                : "Pokémon runs: backbone, split, input size, top-1/top-5, best validation epoch, near-duplicates across splits.");
            var file = new Argument<string>("file") { Description = "The JSON lines (e.g. .punkgrid/results/trait-seed.jsonl)." };
            command.Arguments.Add(file);
            command.SetAction(async (parse, cancellation) =>
            {
                var path = parse.GetValue(file)!;
                try
                {
                    var runs = TrainingReports.Parse(await File.ReadAllTextAsync(path, cancellation), path);
                    await stdout.WriteAsync(kind == "traits" ? TrainingReports.Traits(runs) : TrainingReports.Pokemon(runs));
                    return 0;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    await stderr.WriteLineAsync($"error: {path}: {ex.Message}");
                    return BadInput;
                }
            });
            report.Subcommands.Add(command);
        }
        return report;
    }
}
