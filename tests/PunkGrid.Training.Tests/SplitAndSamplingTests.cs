using PunkGrid.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class SplitAndSamplingTests
{
    private static PunkTraitTable Traits => TestData.Punks.Traits;

    [Fact]
    public void The_split_is_disjoint_complete_and_about_80_20()
    {
        var split = PunkSplit.Create(Traits, seed: 42);
        Assert.Empty(split.Train.Intersect(split.Test));
        Assert.Equal(Enumerable.Range(0, 10_000), split.Train.Concat(split.Test).Order());
        Assert.InRange(split.Test.Count, 1990, 2010);
    }

    [Fact]
    public void The_same_seed_gives_the_same_split_and_another_seed_another()
    {
        Assert.Equal(PunkSplit.Create(Traits, 7).Test, PunkSplit.Create(Traits, 7).Test);
        Assert.NotEqual(PunkSplit.Create(Traits, 7).Test, PunkSplit.Create(Traits, 8).Test);
    }

    [Theory]
    [InlineData(42)]
    [InlineData(1)]
    [InlineData(2024)]
    public void Every_type_and_rare_accessory_has_positives_in_both_halves(int seed)
    {
        var split = PunkSplit.Create(Traits, seed);
        foreach (var trait in new[] { "Male", "Female", "Zombie", "Ape", "Alien", "Beanie", "Choker", "Tiara" })
        {
            var labels = Traits.LabelsOf(Traits.IndexOf(trait));
            Assert.True(split.Train.Any(i => labels[i]), $"{trait} has no training positive (seed {seed})");
            Assert.True(split.Test.Any(i => labels[i]), $"{trait} has no test positive (seed {seed})");
        }
        var aliens = Traits.LabelsOf(Traits.IndexOf("Alien"));
        Assert.Equal(2, split.Test.Count(i => aliens[i])); // round(9 * 0.2)
    }

    [Fact]
    public void The_balanced_set_draws_half_positives_from_the_training_split_only()
    {
        var split = PunkSplit.Create(Traits, 42);
        var labels = Traits.LabelsOf(Traits.IndexOf("Alien"));
        // Each "image" is its own punk id, so the drawn samples tell which punks were chosen.
        using var ids = arange(10_000, ScalarType.Float32).view(10_000, 1, 1, 1);
        using var generator = new Generator(1);
        using var set = BalancedTraitSet.Build(ids, labels, split.Train, 16_000, generator, "Alien");

        Assert.Equal(16_000, set.Count);
        Assert.Equal(8_000, set.PositiveCount);
        var drawn = set.Inputs.view(-1).data<float>().ToArray().Select(v => (int)v).ToArray();
        var classes = set.Labels.data<long>().ToArray();
        var train = split.Train.ToHashSet();
        Assert.All(drawn, id => Assert.Contains(id, train));
        for (var i = 0; i < drawn.Length; i++)
        {
            Assert.Equal(labels[drawn[i]] ? 1L : 0L, classes[i]);
        }
        Assert.Equal(7, drawn.Where(id => labels[id]).Distinct().Count()); // all 7 training aliens, oversampled
    }

    [Fact]
    public void A_trait_without_training_positives_is_a_clear_error()
    {
        var labels = new bool[10_000];
        using var images = zeros(10_000, 1, 1, 1);
        using var generator = new Generator(1);
        var error = Assert.Throws<DataFormatException>(() => BalancedTraitSet.Build(images, labels, [1, 2, 3], 10, generator, "Nothing"));
        Assert.Contains("trait 'Nothing' has 0 positive and 3 negative", error.Message);
    }
}
