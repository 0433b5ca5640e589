using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Models;

/// <summary>
/// The seed's binary trait classifier: conv 1→32, 32→64, 64→128 (kernel 2x2), linear 128→512→2.
/// Returns logits <c>[N, 2]</c>; <see cref="Probabilities"/> applies the softmax.
/// <para>
/// Where the write-up is silent, our choices: ReLU after every layer but the last; 2x2 max-pooling after the
/// first two convolutions (24→23→11, 11→10→5, 5→4); and <b>global max-pooling</b> of the 128 maps of the third
/// convolution into the 128 features the first linear layer takes. Max (not mean) because a trait is present
/// if it shows anywhere — an earring is a few pixels in one place.
/// </para>
/// <para>
/// <see cref="TraitCnnArchitecture.Positional"/> keeps the same convolutions but hands the whole 128x4x4 map to the
/// first linear layer (2,048→512): punks are sprites drawn on one 24x24 template, so <i>where</i> a pattern is says
/// which trait it belongs to — a black pixel at the mouth's corner is a smile two rows up and a frown two rows down,
/// a light gray pixel under the chin is a silver chain and elsewhere an accessory. Global max-pooling throws that away.
/// </para>
/// </summary>
public sealed class TraitCnn : Module<Tensor, Tensor>
{
    public const int ImageSize = 24;

    /// <summary>Side of the third convolution's map: 24→23→11→10→5→4.</summary>
    private const int FinalMapSize = 4;

    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Conv2d conv3;
    private readonly Linear fc1;
    private readonly Linear fc2;

    public TraitCnn(int inputChannels, TraitCnnArchitecture architecture = TraitCnnArchitecture.Seed) : base(nameof(TraitCnn))
    {
        if (inputChannels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(inputChannels), inputChannels, "input channels must be 1 (gray) or 3 (rgb)");
        }
        InputChannels = inputChannels;
        Architecture = architecture;
        conv1 = Conv2d(inputChannels, 32, kernel_size: 2);
        conv2 = Conv2d(32, 64, kernel_size: 2);
        conv3 = Conv2d(64, 128, kernel_size: 2);
        fc1 = Linear(architecture == TraitCnnArchitecture.Positional ? 128 * FinalMapSize * FinalMapSize : 128, 512);
        fc2 = Linear(512, 2);
        RegisterComponents();
    }

    public int InputChannels { get; }

    public TraitCnnArchitecture Architecture { get; }

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.shape[1] != InputChannels || input.shape[2] != ImageSize || input.shape[3] != ImageSize)
        {
            throw new ArgumentException(
                $"TraitCnn expects input of shape [N, {InputChannels}, {ImageSize}, {ImageSize}], got [{string.Join(", ", input.shape)}]");
        }
        using var scope = NewDisposeScope();
        var x = functional.max_pool2d(functional.relu(conv1.forward(input)), 2);
        x = functional.max_pool2d(functional.relu(conv2.forward(x)), 2);
        x = functional.relu(conv3.forward(x));
        x = Architecture == TraitCnnArchitecture.Positional ? x.flatten(1) : x.amax([2, 3]);
        x = functional.relu(fc1.forward(x));
        return fc2.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Softmax over the two classes: <c>[N, 2]</c>, column 1 = has the trait.</summary>
    public Tensor Probabilities(Tensor input)
    {
        using var logits = forward(input);
        return functional.softmax(logits, 1);
    }
}

/// <summary>How <see cref="TraitCnn"/> turns its last feature map into the classifier's input.</summary>
public enum TraitCnnArchitecture
{
    /// <summary>The seed's: global max-pooling, where a pattern shows is forgotten.</summary>
    Seed,

    /// <summary>The whole 4x4 map, flattened: the classifier knows where each pattern is.</summary>
    Positional,
}

/// <summary>The names the options, <c>eval.json</c> and checkpoints use for <see cref="TraitCnnArchitecture"/>.</summary>
public static class TraitCnnArchitectures
{
    public static IReadOnlyList<string> Names { get; } = ["seed", "positional"];

    public static string Name(this TraitCnnArchitecture architecture) => architecture switch
    {
        TraitCnnArchitecture.Positional => "positional",
        _ => "seed",
    };

    public static TraitCnnArchitecture Parse(string name) => name switch
    {
        "seed" => TraitCnnArchitecture.Seed,
        "positional" => TraitCnnArchitecture.Positional,
        _ => throw new ArgumentException($"unknown trait architecture '{name}'; allowed: {string.Join(", ", Names)}"),
    };
}
