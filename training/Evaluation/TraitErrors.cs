using PunkGrid.Training.Data;
using PunkGrid.Training.Imaging;
using static TorchSharp.torch;

namespace PunkGrid.Training.Evaluation;

/// <summary>
/// The held-out punks a trait model gets wrong at its decision threshold: the ones that have the trait and were
/// missed (false negatives, lowest score first) and the ones called without having it (false positives, highest score
/// first) — the most confidently wrong first. What an operator looks at to see why a trait falls short.
/// </summary>
public sealed record TraitErrors(IReadOnlyList<int> FalseNegativeIds, IReadOnlyList<int> FalsePositiveIds)
{
    /// <summary>At most this many ids of each kind are kept (eval.json stays small for a bad model).</summary>
    public const int MaxListed = 100;

    /// <summary>At most this many punks of each kind are drawn.</summary>
    public const int MaxPictured = 48;

    /// <summary>The errors among <paramref name="punkIds"/>, whose model scores and true labels (1 = has the trait) are given
    /// in the same order; predicted positive when the score is at or above <paramref name="threshold"/>, as
    /// <see cref="DecisionThreshold.Confusion"/> counts.</summary>
    public static TraitErrors Find(IReadOnlyList<int> punkIds, ReadOnlySpan<float> scores, ReadOnlySpan<long> actual, double threshold)
    {
        if (punkIds.Count != scores.Length || scores.Length != actual.Length)
        {
            throw new ArgumentException($"{punkIds.Count} punks, {scores.Length} scores and {actual.Length} labels: they must match");
        }
        var missed = new List<(int Id, float Score)>();
        var called = new List<(int Id, float Score)>();
        for (var i = 0; i < scores.Length; i++)
        {
            var predicted = DecisionThreshold.Calls(scores[i], threshold);
            if (actual[i] == 1 && !predicted)
            {
                missed.Add((punkIds[i], scores[i]));
            }
            else if (actual[i] == 0 && predicted)
            {
                called.Add((punkIds[i], scores[i]));
            }
        }
        return new TraitErrors(
            [.. missed.OrderBy(e => e.Score).ThenBy(e => e.Id).Take(MaxListed).Select(e => e.Id)],
            [.. called.OrderByDescending(e => e.Score).ThenBy(e => e.Id).Take(MaxListed).Select(e => e.Id)]);
    }

    /// <summary>A PNG of the first <see cref="MaxPictured"/> of <paramref name="ids"/> as the model sees them (on the
    /// punks' background), 3x, 12 a row; null when there are none.</summary>
    public static byte[]? Picture(Tensor tiles, IReadOnlyList<int> ids)
    {
        if (ids.Count == 0)
        {
            return null;
        }
        using var scope = NewDisposeScope();
        var chosen = tiles.index_select(0, tensor(ids.Take(MaxPictured).Select(i => (long)i).ToArray()));
        return ImageGrid.ToPng(PunkImageTensors.ToModelInput(chosen, PunkColorMode.Rgb), columns: 12, scale: 3);
    }
}
