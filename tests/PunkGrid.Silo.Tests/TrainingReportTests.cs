namespace PunkGrid.Silo.Tests;

/// <summary><c>silo report</c>: the Markdown tables of docs/RESULTS.md from <c>silo train --json</c> lines, and bad input named.</summary>
[Collection(SiloCommandLineCollection.Name)]
public class TrainingReportTests
{
    private static async Task<(int Exit, string Out, string Error)> ReportAsync(string kind, string lines)
    {
        var file = Path.Combine(Path.GetTempPath(), $"report-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllTextAsync(file, lines);
        try
        {
            var (stdout, stderr) = (new StringWriter(), new StringWriter());
            var exit = await SiloCommandLine.RunAsync(["report", kind, file], stdout, stderr);
            return (exit, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string Trait(string trait, string color, double f1) =>
        $$"""{"trait":"{{trait}}","color":"{{color}}","accuracy":0.99,"precision":0.9,"recall":0.8,"f1":{{f1}},"test_positives":12}""";

    [Fact]
    public async Task Trait_runs_stand_gray_beside_rgb_with_the_change_in_F1()
    {
        var (exit, text, error) = await ReportAsync("traits", string.Join('\n', Trait("Male", "gray", 0.9), Trait("Male", "rgb", 0.95), Trait("Ape", "gray", 1.0), ""));
        Assert.True(exit == 0, error);
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        Assert.Equal("| trait | test positives | gray acc | gray P | gray R | gray F1 | rgb acc | rgb P | rgb R | rgb F1 | ΔF1 |", lines[0]);
        Assert.Equal("| Male | 12 | 0.9900 | 0.9000 | 0.8000 | 0.9000 | 0.9900 | 0.9000 | 0.8000 | 0.9500 | +0.0500 |", lines[2]);
        Assert.Equal("", lines[3]); // Ape has no rgb run yet: no row
    }

    [Fact]
    public async Task Pokemon_runs_are_a_row_each()
    {
        const string run = """{"profile":"tuned","backbone":"resnet18-imagenet","fine_tune":"last-stage","image_size":224,"top1":0.9114,"top5":0.9862,"best_validation_accuracy":0.92,"best_epoch":6,"classes":150,"train_count":4700,"validation_count":1000,"test_count":1000,"seconds":1400.4,"duplicates":{"split_used":"aware","cross_split_pairs":0,"near_duplicate_pairs":34}}""";
        var (exit, text, error) = await ReportAsync("pokemon", run);
        Assert.True(exit == 0, error);
        Assert.Equal("| resnet18-imagenet, fine_tune=last-stage (tuned) | aware | 224 | 0.9114 | 0.9862 | 0.9200 (6) | 0 of 34 | 150 | 4700 / 1000 / 1000 | 1400 |",
            text.ReplaceLineEndings("\n").Split('\n')[2]);
    }

    [Theory]
    [InlineData("traits", "{not json", "line 1 is not a JSON object")]
    [InlineData("traits", """{"trait":"Male"}""", "a run has no 'color'")]
    [InlineData("pokemon", """{"profile":"seed"}""", "a run has no 'duplicates'")]
    public async Task Bad_lines_are_named_with_exit_code_2(string kind, string lines, string message)
    {
        var (exit, _, error) = await ReportAsync(kind, lines);
        Assert.Equal(SiloCommandLine.BadInput, exit);
        Assert.Contains(message, error);
    }
}
