using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>
/// A balanced binary training set for one trait: half positives, half negatives, each drawn with replacement
/// from the training split (oversampling), so rare traits (Alien: 7 training punks) train as well as common ones.
/// Built with tensor ops only: index tensors, <c>randint</c> and <c>index_select</c>.
/// </summary>
public sealed class BalancedTraitSet : IDisposable
{
    private BalancedTraitSet(Tensor inputs, Tensor labels, int positives, int negatives)
    {
        Inputs = inputs;
        Labels = labels;
        PositiveCount = positives;
        NegativeCount = negatives;
    }

    /// <summary>Model inputs <c>[S, C, H, W]</c>.</summary>
    public Tensor Inputs { get; }

    /// <summary>Class labels <c>[S]</c> (int64): 1 = has the trait, 0 = does not.</summary>
    public Tensor Labels { get; }

    public int PositiveCount { get; }

    public int NegativeCount { get; }

    public long Count => Labels.shape[0];

    /// <param name="images">Model inputs for all punks <c>[10000, C, H, W]</c>, indexed by punk id.</param>
    /// <param name="labels">Per punk id: has the trait.</param>
    /// <param name="trainIds">The punks the set may draw from (the training split).</param>
    /// <param name="sampleCount">Total samples; positives get the first half (rounded up).</param>
    /// <param name="generator">Source of randomness (seeded by the caller).</param>
    /// <param name="traitName">For error messages.</param>
    public static BalancedTraitSet Build(Tensor images, bool[] labels, IReadOnlyList<int> trainIds, int sampleCount, Generator generator, string traitName)
    {
        if (sampleCount < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(sampleCount), sampleCount, "a balanced set needs at least 2 samples");
        }
        var positiveIds = trainIds.Where(id => labels[id]).Select(id => (long)id).ToArray();
        var negativeIds = trainIds.Where(id => !labels[id]).Select(id => (long)id).ToArray();
        if (positiveIds.Length == 0 || negativeIds.Length == 0)
        {
            throw new DataFormatException(
                $"trait '{traitName}' has {positiveIds.Length} positive and {negativeIds.Length} negative punks in the training split; both are needed");
        }

        var positives = (sampleCount + 1) / 2;
        var negatives = sampleCount - positives;
        using var scope = NewDisposeScope();
        var pool = cat([
            tensor(positiveIds).index_select(0, randint(positiveIds.Length, [positives], generator: generator)),
            tensor(negativeIds).index_select(0, randint(negativeIds.Length, [negatives], generator: generator)),
        ]);
        var inputs = images.index_select(0, pool).contiguous();
        var classes = cat([ones(positives, ScalarType.Int64), zeros(negatives, ScalarType.Int64)]);
        return new BalancedTraitSet(inputs.MoveToOuterDisposeScope(), classes.MoveToOuterDisposeScope(), positives, negatives);
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
    }
}
