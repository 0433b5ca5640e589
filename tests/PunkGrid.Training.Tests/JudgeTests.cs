using PunkGrid.Training.Data;
using PunkGrid.Training.Evaluation;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class JudgeTests
{
    [Fact]
    public void Punk_fid_is_small_between_real_punks_and_large_for_noise_and_the_judge_reads_traits()
    {
        var data = TestData.Punks;
        var judge = PunkJudge.For(data, seed: 42, epochs: 4);
        Assert.InRange(judge.TestAccuracy, 0.9, 1.0); // most traits are absent on most punks; the judge beats that

        using var scope = NewDisposeScope();
        var rgb = PunkImageTensors.ToModelInput(data.Tiles, PunkColorMode.Rgb);
        var (a, b) = (rgb.narrow(0, 0, 500), rgb.narrow(0, 500, 500));
        var realVsReal = judge.FrechetDistance(a, b);
        var realVsNoise = judge.FrechetDistance(a, rand(500, 3, 24, 24));
        Assert.True(realVsReal * 10 < realVsNoise, $"real/real {realVsReal} vs real/noise {realVsNoise}");

        // RGBA at 64 px (what the GAN makes) is brought to the judge's input.
        Assert.Equal([2L, 3, 24, 24], PunkJudge.ToJudgeInput(rand(2, 4, 64, 64)).shape);

        // Asked for their type only, real punks are confirmed; asked for a type they do not have, they are not.
        var labels = Trainers.GanTrainer.LabelMatrix(data.Traits).narrow(0, 0, 500);
        var types = labels.narrow(1, 0, 5);
        var askTypes = cat([types, zeros(500, 87)], 1);
        var askWrongTypes = cat([types.roll(1, 1), zeros(500, 87)], 1);
        var right = judge.MatchTraits(a, askTypes);
        var wrong = judge.MatchTraits(a, askWrongTypes);
        Assert.True(right.AllFound > 0.9 && wrong.AllFound < 0.1, $"agreement on true types {right}, on wrong types {wrong}");
        // With one asked trait per punk, finding all of them and the share of asked traits found are the same number.
        Assert.Equal(right.AllFound, right.Recall, 5);

        // Asked for everything they have, real punks show more of it than of another punk's traits; the share of
        // asked traits found is never below the share of punks showing all of them.
        var own = judge.MatchTraits(a, labels);
        var another = judge.MatchTraits(a, labels.roll(1, 0));
        Assert.True(own.Recall > another.Recall && own.AllFound > another.AllFound, $"own traits {own}, another punk's {another}");
        Assert.True(own.Recall >= own.AllFound, $"{own}");

        // The judge's held-out recall is what MatchTraits finds on the held-out punks asked for their own traits.
        var heldOut = tensor(PunkSplit.Create(data.Traits, 42).Test.Select(i => (long)i).ToArray());
        var heldOutOwn = judge.MatchTraits(rgb.index_select(0, heldOut), Trainers.GanTrainer.LabelMatrix(data.Traits).index_select(0, heldOut));
        Assert.Equal(judge.TestRecall, heldOutOwn.Recall, 6);
        Assert.InRange(judge.TestPrecision, 0.5, 1);
    }
}
