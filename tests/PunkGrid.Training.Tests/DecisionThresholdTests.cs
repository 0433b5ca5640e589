using PunkGrid.Training.Data;
using PunkGrid.Training.Evaluation;

namespace PunkGrid.Training.Tests;

public class DecisionThresholdTests
{
    [Fact]
    public void The_best_threshold_separates_the_classes_in_the_middle_of_the_gap()
    {
        // Negatives up to 0.6, positives from 0.8: any threshold in (0.6, 0.8] is perfect; the middle is 0.7.
        float[] scores = [0.1f, 0.6f, 0.3f, 0.9f, 0.8f, 0.55f];
        long[] actual = [0, 0, 0, 1, 1, 0];
        var (threshold, f1) = DecisionThreshold.BestF1(scores, actual);
        Assert.Equal(1.0, f1);
        Assert.Equal(0.7, threshold, 6);
        Assert.Equal(new BinaryConfusion(2, 0, 4, 0), DecisionThreshold.Confusion(scores, actual, threshold));
        // 0.5 (the softmax's call) takes the 0.55 and 0.6 negatives as positives.
        Assert.Equal(new BinaryConfusion(2, 2, 2, 0), DecisionThreshold.Confusion(scores, actual, 0.5));
    }

    [Fact]
    public void The_chosen_f1_is_the_best_over_every_threshold()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 50; trial++)
        {
            var n = random.Next(1, 60);
            var scores = Enumerable.Range(0, n).Select(_ => (float)Math.Round(random.NextDouble(), 1)).ToArray(); // ties on purpose
            var actual = Enumerable.Range(0, n).Select(_ => random.NextDouble() < 0.3 ? 1L : 0L).ToArray();
            var (threshold, f1) = DecisionThreshold.BestF1(scores, actual);
            var brute = Enumerable.Range(0, 1001).Select(i => DecisionThreshold.Confusion(scores, actual, i / 1000.0).F1).Max();
            Assert.Equal(brute, f1, 9);
            Assert.Equal(f1, DecisionThreshold.Confusion(scores, actual, threshold).F1, 9); // the threshold gives what it claims
            Assert.InRange(threshold, 0, 1);
        }
    }

    [Fact]
    public void Without_positives_the_threshold_stays_at_one_half()
    {
        Assert.Equal((0.5, 0.0), DecisionThreshold.BestF1([0.2f, 0.9f], [0, 0]));
        Assert.Throws<ArgumentException>(() => DecisionThreshold.BestF1([0.2f], [0, 1]));
    }

    [Fact]
    public void The_validation_split_comes_from_training_with_each_class_in_proportion()
    {
        var punks = TestData.Punks;
        var split = PunkSplit.Create(punks.Traits, 42);
        foreach (var trait in new[] { "Earring", "Alien", "Male" })
        {
            var labels = punks.Traits.LabelsOf(punks.Traits.IndexOf(trait));
            var carved = TraitValidationSplit.Carve(split.Train, labels, 0.15, 44);
            Assert.Empty(carved.Train.Intersect(carved.Validation));
            Assert.Equal(split.Train.Order(), carved.Train.Concat(carved.Validation).Order()); // nothing lost, nothing from test
            Assert.Empty(carved.Validation.Intersect(split.Test));
            int Positives(IEnumerable<int> ids) => ids.Count(i => labels[i]);
            var trainPositives = Positives(split.Train);
            Assert.Equal(Math.Clamp((int)Math.Round(trainPositives * 0.15), 1, trainPositives - 1), Positives(carved.Validation));
            Assert.True(Positives(carved.Train) >= 1);
            Assert.Equal(carved.Validation, TraitValidationSplit.Carve(split.Train, labels, 0.15, 44).Validation); // deterministic
        }
        var none = TraitValidationSplit.Carve(split.Train, new bool[PunkGrid.Training.Data.PunkTraitTable.PunkCount], 0, 1);
        Assert.Empty(none.Validation);
    }

    [Fact]
    public void The_errors_are_the_misses_and_false_calls_at_the_threshold_most_confident_first()
    {
        // punks 10-16: 10, 11 and 12 have the trait (12 scores exactly the threshold), 13 and 14 score high without it.
        float[] scores = [0.10f, 0.45f, 0.50f, 0.90f, 0.60f, 0.05f, 0.99f];
        long[] actual = [1, 1, 1, 0, 0, 0, 1];
        var errors = TraitErrors.Find([10, 11, 12, 13, 14, 15, 16], scores, actual, 0.5);
        Assert.Equal([10, 11], errors.FalseNegativeIds); // 12 scores exactly 0.5: called, as Confusion counts it
        Assert.Equal([13, 14], errors.FalsePositiveIds);
        var confusion = DecisionThreshold.Confusion(scores, actual, 0.5);
        Assert.Equal((confusion.FalseNegatives, confusion.FalsePositives), (errors.FalseNegativeIds.Count, errors.FalsePositiveIds.Count));
        Assert.Throws<ArgumentException>(() => TraitErrors.Find([1], scores, actual, 0.5));

        var many = TraitErrors.Find([.. Enumerable.Range(0, 500)], new float[500], [.. Enumerable.Repeat(1L, 500)], 0.5);
        Assert.Equal(TraitErrors.MaxListed, many.FalseNegativeIds.Count);
        Assert.Null(TraitErrors.Picture(TestData.Punks.Tiles, []));
        var png = TraitErrors.Picture(TestData.Punks.Tiles, many.FalseNegativeIds)!;
        var image = StbImageSharp.ImageResult.FromMemory(png);
        // 48 punks, 12 a row at 3x with 2-pixel gaps: 4 rows
        Assert.Equal((12 * 72 + 11 * 2, 4 * 72 + 3 * 2), (image.Width, image.Height));
    }
}
