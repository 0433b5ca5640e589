namespace PunkGrid.Training.Evaluation;

/// <summary>
/// Chooses a binary classifier's probability threshold: the one with the best F1 on labelled scores (a validation
/// split). Every threshold between two neighbouring distinct scores gives the same predictions, so the choice is the
/// midpoint of the widest-margin interval among the best: as far as possible from the scores on either side.
/// </summary>
public static class DecisionThreshold
{
    /// <summary>Whether a model calls the trait: its score is at or above the threshold.</summary>
    public static bool Calls(float score, double threshold) => score >= threshold;

    /// <summary>Predicted positive when the score is at or above the threshold.</summary>
    public static BinaryConfusion Confusion(ReadOnlySpan<float> scores, ReadOnlySpan<long> actual, double threshold)
    {
        var predicted = new long[scores.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            predicted[i] = Calls(scores[i], threshold) ? 1 : 0;
        }
        return BinaryConfusion.FromPredictions(predicted, actual);
    }

    /// <summary>The threshold in (0, 1) with the best F1 on these scores, and that F1 (0.5 and 0 when no label is positive).</summary>
    public static (double Threshold, double F1) BestF1(ReadOnlySpan<float> scores, ReadOnlySpan<long> actual)
    {
        if (scores.Length != actual.Length)
        {
            throw new ArgumentException($"{scores.Length} scores for {actual.Length} labels");
        }
        var order = new int[scores.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        var sorted = scores.ToArray();
        Array.Sort(sorted, order); // ascending scores
        long positives = 0;
        foreach (var a in actual)
        {
            positives += a != 0 ? 1 : 0;
        }
        if (positives == 0)
        {
            return (0.5, 0);
        }
        // A threshold just above sorted[k - 1] (k = 0..n) calls the top n - k positive. Walk k up from 0 (all positive).
        long tp = positives, fp = scores.Length - positives;
        double bestF1 = -1, bestThreshold = 0.5, bestMargin = -1;
        for (var k = 0; k <= sorted.Length; k++)
        {
            if (k > 0)
            {
                if (actual[order[k - 1]] != 0) { tp--; } else { fp--; }
            }
            if (k > 0 && k < sorted.Length && sorted[k] == sorted[k - 1])
            {
                continue; // no threshold separates equal scores
            }
            var lower = k == 0 ? 0.0 : sorted[k - 1];
            var upper = k == sorted.Length ? 1.0 : sorted[k];
            var f1 = tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + (positives - tp));
            var margin = upper - lower;
            if (f1 > bestF1 + 1e-12 || (Math.Abs(f1 - bestF1) <= 1e-12 && margin > bestMargin))
            {
                (bestF1, bestMargin) = (f1, margin);
                bestThreshold = k == 0 ? upper / 2 : k == sorted.Length ? (lower + 1) / 2 : (lower + upper) / 2;
            }
        }
        return (bestThreshold, bestF1);
    }
}
