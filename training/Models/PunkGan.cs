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
/// At the punks' native 24x24 (the tuned profile) the same design is two doublings shorter: dense → 256x6x6, two
/// transposed convolutions to 24x24x64 and a 3x3 transposed convolution (stride 1) to RGBA — the 24x24 pixels the data has, not an upscaled
/// 64x64 copy of them, for about a tenth of the arithmetic.
/// </summary>
public sealed class PunkGenerator : Module<Tensor, Tensor?, Tensor>
{
    public const int Noise = 100;
    public const int SeedImageSize = 64;
    public const int NativeImageSize = 24;
    public const int Channels = 4;

    private readonly Linear dense;
    private readonly BatchNorm1d denseNorm;
    private readonly Sequential upsample;
    private readonly int startChannels;
    private readonly int startSize;

    public PunkGenerator(int conditionSize = 0, int imageSize = SeedImageSize) : base(nameof(PunkGenerator))
    {
        ConditionSize = conditionSize;
        ImageSize = PunkGanSizes.Require(imageSize);
        (startChannels, startSize) = imageSize == SeedImageSize ? (512, 4) : (256, 6);
        dense = Linear(Noise + conditionSize, startChannels * startSize * startSize, hasBias: false);
        denseNorm = BatchNorm1d(startChannels * startSize * startSize);
        upsample = imageSize == SeedImageSize
            ? Sequential(
                UpBlock(512, 256), UpBlock(256, 128), UpBlock(128, 64),
                ConvTranspose2d(64, Channels, kernel_size: 4, stride: 2, padding: 1),
                Sigmoid())
            : Sequential(
                UpBlock(256, 128), UpBlock(128, 64),
                ConvTranspose2d(64, Channels, kernel_size: 3, stride: 1, padding: 1),
                Sigmoid());
        RegisterComponents();
        DcganInitialization.Apply(this);
    }

    private static Sequential UpBlock(int input, int output) => Sequential(
        ConvTranspose2d(input, output, kernel_size: 4, stride: 2, padding: 1, bias: false), BatchNorm2d(output), LeakyReLU(0.2));

    public int ConditionSize { get; }

    /// <summary>Side of the square images it draws: 64 (the seed's) or 24 (the punks' own).</summary>
    public int ImageSize { get; }

    public override Tensor forward(Tensor noise, Tensor? condition)
    {
        using var scope = NewDisposeScope();
        var input = ConditionSize > 0
            ? cat([noise, condition ?? throw new ArgumentException("this generator is conditional: give the 92 trait labels")], 1)
            : noise;
        var x = functional.leaky_relu(denseNorm.forward(dense.forward(input)), 0.2).view(-1, startChannels, startSize, startSize);
        return upsample.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>The image sizes the Punk GAN is built for.</summary>
public static class PunkGanSizes
{
    public static IReadOnlyList<int> Allowed { get; } = [PunkGenerator.SeedImageSize, PunkGenerator.NativeImageSize];

    public static int Require(int imageSize) => Allowed.Contains(imageSize)
        ? imageSize
        : throw new ArgumentException($"the Punk GAN draws {string.Join(" or ", Allowed)} px images, not {imageSize}");
}

/// <summary>
/// How a conditional Punk GAN's discriminator uses the 92 trait labels. <see cref="Input"/> (the seed's): it is given
/// them, as a fifth input channel and beside its features, and judges whether image and labels belong together.
/// <see cref="Auxiliary"/> (AC-GAN, Odena et al. 2017): it sees the image alone and, besides real-or-generated,
/// predicts the 92 labels; it learns them on real punks, and the generator is trained to make the asked ones come out —
/// a direct push towards the asked traits, which the seed's way only gives through the real-or-generated verdict.
/// </summary>
public static class GanConditioning
{
    public const string Input = "input";
    public const string Auxiliary = "auxiliary";

    public static IReadOnlyList<string> All { get; } = [Input, Auxiliary];
}

/// <summary>A discriminator's verdict on a batch: one real-or-generated logit per image, and with auxiliary conditioning the 92 trait logits.</summary>
public readonly record struct DiscriminatorVerdict(Tensor RealLogits, Tensor? TraitLogits);

/// <summary>
/// The seed's Punk GAN discriminator: 4 strided convolutions (4x4, stride 2) with LeakyReLU, 64x64 → 4x4, flattened
/// into a dense layer giving one logit (real vs generated). DCGAN's batch-norm after every convolution but the first,
/// and a minibatch standard-deviation map beside the last features: with batch-norm in the generator alone (and
/// dropout here, TensorFlow's tutorial) the generator collapsed onto one punk (docs/RESULTS.md). Conditional
/// (<see cref="GanConditioning.Input"/>): the labels become a fifth input channel (through a dense layer to the image
/// size) and are appended to the features before the dense layer; <see cref="GanConditioning.Auxiliary"/>: the image
/// alone, and a second dense layer on the same features predicts the 92 labels. At 24x24: three convolutions, 24 → 3.
/// </summary>
public sealed class PunkDiscriminator : Module<Tensor, Tensor?, Tensor>
{
    private readonly Sequential features;
    private readonly Linear decide;
    private readonly Linear? labelMap;
    private readonly Linear? traits;

    public PunkDiscriminator(int conditionSize = 0, int imageSize = PunkGenerator.SeedImageSize, string conditioning = GanConditioning.Input)
        : base(nameof(PunkDiscriminator))
    {
        ImageSize = PunkGanSizes.Require(imageSize);
        if (!GanConditioning.All.Contains(conditioning))
        {
            throw new ArgumentException($"conditioning '{conditioning}' is not one of {string.Join(", ", GanConditioning.All)}");
        }
        Conditioning = conditioning;
        ConditionSize = conditionSize;
        var labelsAsInput = conditionSize > 0 && conditioning == GanConditioning.Input;
        var inputChannels = PunkGenerator.Channels + (labelsAsInput ? 1 : 0);
        var (blocks, featureSize) = imageSize == PunkGenerator.SeedImageSize
            ? (new[] { DownBlock(inputChannels, 64, normalize: false), DownBlock(64, 128), DownBlock(128, 256), DownBlock(256, 512) }, (512 + 1) * 4 * 4)
            : (new[] { DownBlock(inputChannels, 64, normalize: false), DownBlock(64, 128), DownBlock(128, 256) }, (256 + 1) * 3 * 3);
        features = Sequential(blocks);
        decide = Linear(featureSize + (labelsAsInput ? conditionSize : 0), 1);
        if (labelsAsInput)
        {
            labelMap = Linear(conditionSize, imageSize * imageSize);
        }
        else if (conditionSize > 0)
        {
            traits = Linear(featureSize, conditionSize);
        }
        RegisterComponents();
        DcganInitialization.Apply(this);
    }

    private static Sequential DownBlock(int input, int output, bool normalize = true) => normalize
        ? Sequential(Conv2d(input, output, kernel_size: 4, stride: 2, padding: 1, bias: false), BatchNorm2d(output), LeakyReLU(0.2))
        : Sequential(Conv2d(input, output, kernel_size: 4, stride: 2, padding: 1), LeakyReLU(0.2));

    public int ConditionSize { get; }

    public int ImageSize { get; }

    public string Conditioning { get; }

    /// <summary>Whether it predicts the 92 trait labels (a conditional discriminator with auxiliary conditioning).</summary>
    public bool PredictsTraits => traits is not null;

    /// <summary>The real-or-generated logits.</summary>
    public override Tensor forward(Tensor images, Tensor? condition)
    {
        var verdict = Judge(images, condition);
        verdict.TraitLogits?.Dispose();
        return verdict.RealLogits;
    }

    /// <summary>Real-or-generated logits and, with auxiliary conditioning, the 92 trait logits (which never see <paramref name="condition"/>).</summary>
    public DiscriminatorVerdict Judge(Tensor images, Tensor? condition)
    {
        if (images.dim() != 4 || images.shape[1] != PunkGenerator.Channels || images.shape[2] != ImageSize || images.shape[3] != ImageSize)
        {
            throw new ArgumentException($"the discriminator expects [N, 4, {ImageSize}, {ImageSize}], got [{string.Join(", ", images.shape)}]");
        }
        using var scope = NewDisposeScope();
        if (labelMap is null)
        {
            var h = WithBatchSpread(features.forward(images));
            var verdict = new DiscriminatorVerdict(decide.forward(h), traits?.forward(h));
            verdict.RealLogits.MoveToOuterDisposeScope();
            verdict.TraitLogits?.MoveToOuterDisposeScope();
            return verdict;
        }
        var labels = condition ?? throw new ArgumentException("this discriminator is conditional: give the 92 trait labels");
        var map = labelMap.forward(labels).view(-1, 1, ImageSize, ImageSize);
        var withLabels = WithBatchSpread(features.forward(cat([images, map], 1)));
        return new DiscriminatorVerdict(decide.forward(cat([withLabels, labels], 1)).MoveToOuterDisposeScope(), null);
    }

    /// <summary>
    /// Minibatch standard deviation (Karras et al. 2018): the features' spread across the batch, averaged into one
    /// number and appended as one more map, so the discriminator sees when a batch of generated punks are all alike and
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
