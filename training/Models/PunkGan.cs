using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Models;

/// <summary>
/// The seed's Punk GAN generator: noise (100) → dense → 512x4x4, then 4 transposed convolutions (4x4, stride 2) with
/// LeakyReLU between them up to 64x64x4 RGBA. What the write-up leaves out is DCGAN's (Radford et al. 2016): batch-norm
/// after the dense layer and every hidden transposed convolution, weights N(0, 0.02). Without normalisation the
/// discriminator wins within a hundred steps and the generator never recovers (measured: docs/RESULTS.md). The
/// write-up names no output activation; ours is a sigmoid, so images are in [0, 1] like the data. Conditional: the 92
/// trait labels (5 types + 87 accessories) are appended to the noise.
/// </summary>
public sealed class PunkGenerator : Module<Tensor, Tensor?, Tensor>
{
    public const int Noise = 100;
    public const int ImageSize = 64;
    public const int Channels = 4;

    private readonly Linear dense;
    private readonly BatchNorm1d denseNorm;
    private readonly Sequential upsample;

    public PunkGenerator(int conditionSize = 0) : base(nameof(PunkGenerator))
    {
        ConditionSize = conditionSize;
        dense = Linear(Noise + conditionSize, 512 * 4 * 4, hasBias: false);
        denseNorm = BatchNorm1d(512 * 4 * 4);
        upsample = Sequential(
            UpBlock(512, 256), UpBlock(256, 128), UpBlock(128, 64),
            ConvTranspose2d(64, Channels, kernel_size: 4, stride: 2, padding: 1),
            Sigmoid());
        RegisterComponents();
        DcganInitialization.Apply(this);
    }

    private static Sequential UpBlock(int input, int output) => Sequential(
        ConvTranspose2d(input, output, kernel_size: 4, stride: 2, padding: 1, bias: false), BatchNorm2d(output), LeakyReLU(0.2));

    public int ConditionSize { get; }

    public override Tensor forward(Tensor noise, Tensor? condition)
    {
        using var scope = NewDisposeScope();
        var input = ConditionSize > 0
            ? cat([noise, condition ?? throw new ArgumentException("this generator is conditional: give the 92 trait labels")], 1)
            : noise;
        var x = functional.leaky_relu(denseNorm.forward(dense.forward(input)), 0.2).view(-1, 512, 4, 4);
        return upsample.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The seed's Punk GAN discriminator: 4 strided convolutions (4x4, stride 2) with LeakyReLU, 64x64 → 4x4, flattened
/// into a dense layer giving one logit (real vs generated). DCGAN's batch-norm after every convolution but the first,
/// and a minibatch standard-deviation map beside the last features: with batch-norm in the generator alone (and
/// dropout here, TensorFlow's tutorial) the generator collapsed onto one punk (docs/RESULTS.md). Conditional: the labels become a fifth input channel
/// (through a dense layer to 64x64) and are appended to the features before the dense layer.
/// </summary>
public sealed class PunkDiscriminator : Module<Tensor, Tensor?, Tensor>
{
    private readonly Sequential features;
    private readonly Linear decide;
    private readonly Linear? labelMap;

    public PunkDiscriminator(int conditionSize = 0) : base(nameof(PunkDiscriminator))
    {
        ConditionSize = conditionSize;
        var inputChannels = PunkGenerator.Channels + (conditionSize > 0 ? 1 : 0);
        features = Sequential(
            DownBlock(inputChannels, 64, normalize: false), DownBlock(64, 128), DownBlock(128, 256), DownBlock(256, 512));
        decide = Linear((513 * 4 * 4) + conditionSize, 1);
        if (conditionSize > 0)
        {
            labelMap = Linear(conditionSize, PunkGenerator.ImageSize * PunkGenerator.ImageSize);
        }
        RegisterComponents();
        DcganInitialization.Apply(this);
    }

    private static Sequential DownBlock(int input, int output, bool normalize = true) => normalize
        ? Sequential(Conv2d(input, output, kernel_size: 4, stride: 2, padding: 1, bias: false), BatchNorm2d(output), LeakyReLU(0.2))
        : Sequential(Conv2d(input, output, kernel_size: 4, stride: 2, padding: 1), LeakyReLU(0.2));

    public int ConditionSize { get; }

    public override Tensor forward(Tensor images, Tensor? condition)
    {
        if (images.dim() != 4 || images.shape[1] != PunkGenerator.Channels || images.shape[2] != PunkGenerator.ImageSize || images.shape[3] != PunkGenerator.ImageSize)
        {
            throw new ArgumentException($"the discriminator expects [N, 4, 64, 64], got [{string.Join(", ", images.shape)}]");
        }
        using var scope = NewDisposeScope();
        if (labelMap is null)
        {
            return decide.forward(WithBatchSpread(features.forward(images))).MoveToOuterDisposeScope();
        }
        var labels = condition ?? throw new ArgumentException("this discriminator is conditional: give the 92 trait labels");
        var map = labelMap.forward(labels).view(-1, 1, PunkGenerator.ImageSize, PunkGenerator.ImageSize);
        var h = WithBatchSpread(features.forward(cat([images, map], 1)));
        return decide.forward(cat([h, labels], 1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Minibatch standard deviation (Karras et al. 2018): the features' spread across the batch, averaged into one
    /// number and appended as a 513th map, so the discriminator sees when a batch of generated punks are all alike and
    /// the generator cannot collapse onto one punk. Flattened for the dense layer.
    /// </summary>
    private static Tensor WithBatchSpread(Tensor features)
    {
        var spread = features.var(0, unbiased: false).add(1e-8).sqrt().mean();
        var map = spread.expand(features.shape[0], 1, features.shape[2], features.shape[3]);
        return cat([features, map], 1).flatten(1);
    }
}

/// <summary>DCGAN's initialisation (Radford et al. 2016): weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0.</summary>
internal static class DcganInitialization
{
    public static void Apply(Module module)
    {
        using var noGrad = no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case TorchSharp.Modules.Conv2d or TorchSharp.Modules.ConvTranspose2d or TorchSharp.Modules.Linear:
                    foreach (var (name, p) in m.named_parameters(recurse: false))
                    {
                        _ = name == "weight" ? init.normal_(p, 0, 0.02) : init.zeros_(p);
                    }
                    break;
                case TorchSharp.Modules.BatchNorm1d or TorchSharp.Modules.BatchNorm2d:
                    foreach (var (name, p) in m.named_parameters(recurse: false))
                    {
                        _ = name == "weight" ? init.normal_(p, 1, 0.02) : init.zeros_(p);
                    }
                    break;
            }
        }
    }
}
