using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Models;

/// <summary>
/// Inverted dropout whose masks come from a <see cref="Generator"/> the trainer owns and checkpoints, not from
/// libtorch's process-wide generator, so a resumed job draws the same masks as an uninterrupted one and jobs sharing a
/// worker process do not perturb each other. Without a <see cref="Source"/> it behaves as <c>nn.Dropout</c>.
/// </summary>
public sealed class GeneratorDropout(double probability) : nn.Module<Tensor, Tensor>(nameof(GeneratorDropout))
{
    public double Probability { get; } = probability is >= 0 and < 1
        ? probability
        : throw new ArgumentOutOfRangeException(nameof(probability), probability, "dropout probability must be in [0, 1)");

    /// <summary>Where the masks are drawn from (a CPU generator; masks are moved to the input's device).</summary>
    public Generator? Source { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || Probability == 0)
        {
            return input.alias();
        }
        if (Source is null)
        {
            return nn.functional.dropout(input, Probability, training: true);
        }
        // One Bernoulli fill scaled in place, one multiply: the same passes over memory as nn.Dropout.
        using var scope = NewDisposeScope();
        var scale = empty(input.shape, dtype: input.dtype).bernoulli_(1 - Probability, generator: Source).div_(1 - Probability);
        return input.mul(scale.to(input.device)).MoveToOuterDisposeScope();
    }

    /// <summary>Points every <see cref="GeneratorDropout"/> inside <paramref name="model"/> at <paramref name="source"/>.</summary>
    public static void UseGenerator(nn.Module model, Generator source)
    {
        foreach (var (_, module) in model.named_modules())
        {
            if (module is GeneratorDropout dropout)
            {
                dropout.Source = source;
            }
        }
    }
}
