using PunkGrid.Client;
using PunkGrid.Contracts;

namespace PunkGrid.Integration.Tests;

/// <summary>The Markdown that <c>punkgrid results --format md</c> prints for docs/RESULTS.md, one run and several side by side.</summary>
public sealed class ResultsMarkdownTests
{
    private static TraitResultRow Row(string trait, double? f1, double precision = 0.9, int positives = 10) =>
        new($"run.{trait}", trait, f1 is null ? JobState.Failed : JobState.Succeeded, f1 is null ? null : 0.99, f1 is null ? null : precision,
            f1 is null ? null : 0.8, f1, positives, 12.34);

    [Fact]
    public void One_run_is_a_row_per_scored_trait_sorted_by_name_and_a_summary_line()
    {
        var text = ResultsMarkdown.Render([("seed", [Row("male", 0.97), Row("Alien", 0.5), Row("Hoodie", null), Row("Earring", 0.96)])], 0.95);
        Assert.Equal(
            """
            | trait | accuracy | precision | recall | F1 | test positives | seconds |
            | --- | ---: | ---: | ---: | ---: | ---: | ---: |
            | Alien | 0.9900 | 0.9000 | 0.8000 | 0.5000 | 10 | 12.3 |
            | Earring | 0.9900 | 0.9000 | 0.8000 | 0.9600 | 10 | 12.3 |
            | male | 0.9900 | 0.9000 | 0.8000 | 0.9700 | 10 | 12.3 |

            - `seed`: 3 traits, mean F1 0.8100, 2 at F1 ≥ 0.95; lowest: Alien 0.500, Earring 0.960, male 0.970

            """.ReplaceLineEndings("\n"), text.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Several_runs_stand_side_by_side_with_the_change_from_the_first()
    {
        var text = ResultsMarkdown.Render(
        [
            ("seed", [Row("Male", 0.90), Row("Alien", 0.50)]),
            ("tuned", [Row("Male", 0.95), Row("Zombie", 1.0)]),
        ], 0.95);
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        Assert.Equal("| trait | test positives | seed P | seed R | seed F1 | tuned P | tuned R | tuned F1 | ΔF1 tuned |", lines[0]);
        Assert.Equal("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", lines[1]);
        Assert.Equal("| Alien | 10 | 0.9000 | 0.8000 | 0.5000 |  |  |  |  |", lines[2]);
        Assert.Equal("| Male | 10 | 0.9000 | 0.8000 | 0.9000 | 0.9000 | 0.8000 | 0.9500 | +0.0500 |", lines[3]);
        Assert.Equal("| Zombie | 10 |  |  |  | 0.9000 | 0.8000 | 1.0000 |  |", lines[4]);
        Assert.Equal("- `tuned`: 2 traits, mean F1 0.9750, 2 at F1 ≥ 0.95; lowest: Male 0.950, Zombie 1.000", lines[7]);
    }
}
