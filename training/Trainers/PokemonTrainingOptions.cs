namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of the Pokémon classifier. <c>seed</c> is the write-up: MobileNetV3, cross-entropy, Adam lr 0.001
/// decayed ×0.9 per epoch, 25 epochs, best-on-validation weights kept; batch 32 and 96x96 input are our choices for a
/// CPU (the write-up used torchvision's 224x224 with pretrained weights, which cannot be had here: this one trains
/// from scratch). <c>quick</c>: 1 epoch on the first 10 classes at 64x64. <c>split=naive</c> trains on the image-by-image
/// split instead of the duplicate-aware one, to measure the difference. <c>backbone=resnet18-imagenet</c> starts from the
/// ImageNet ResNet-18 of the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 instead (the write-up's approach:
/// pretrained weights), training a classifier on its frozen features or, with <c>train_backbone=true</c>, the whole network.
/// </summary>
public sealed record PokemonTrainingOptions
{
    public const string Kind = "pokemon";

    public string Profile { get; init; } = "seed";

    public int Epochs { get; init; } = 25;

    public int BatchSize { get; init; } = 32;

    public double LearningRate { get; init; } = 0.001;

    public double LearningRateDecay { get; init; } = 0.9;

    public int ImageSize { get; init; } = 96;

    /// <summary>Use only the first N classes (0: all 149).</summary>
    public int ClassLimit { get; init; }

    public bool Augment { get; init; } = true;

    public string Split { get; init; } = "aware";

    /// <summary><c>mobilenetv3-small</c> (from scratch, the seed) or <c>resnet18-imagenet</c> (ImageNet weights from the NuGet package).</summary>
    public string Backbone { get; init; } = MobileNet;

    /// <summary>With <c>resnet18-imagenet</c>: train the whole network (true) or only a classifier on its frozen features (false).</summary>
    public bool TrainBackbone { get; init; }

    public const string MobileNet = "mobilenetv3-small";
    public const string ResNetImageNet = "resnet18-imagenet";

    public int Seed { get; init; } = 42;

    public static PokemonTrainingOptions Create(string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.Apply(
        Kind,
        profile,
        seed: new PokemonTrainingOptions(),
        quick: new PokemonTrainingOptions { Profile = "quick", Epochs = 1, ClassLimit = 10, ImageSize = 64 },
        overrides,
        (baseline, p) => baseline with
        {
            Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
            BatchSize = p.Int("batch_size", baseline.BatchSize, 2, 100_000),
            LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
            LearningRateDecay = p.Double("lr_decay", baseline.LearningRateDecay, 0.01, 1),
            ImageSize = p.Int("image_size", baseline.ImageSize, 32, 512),
            ClassLimit = p.Int("class_limit", baseline.ClassLimit, 0, 151),
            Augment = p.Flag("augment", baseline.Augment),
            Split = p.Choice("split", baseline.Split, "aware", "naive"),
            Backbone = p.Choice("backbone", baseline.Backbone, MobileNet, ResNetImageNet),
            TrainBackbone = p.Flag("train_backbone", baseline.TrainBackbone),
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
        });

    /// <summary>What a checkpoint must match to be resumed from (the backbone only when not the seed's, so earlier checkpoints still match).</summary>
    public IReadOnlyDictionary<string, string> CheckpointIdentity()
    {
        var identity = SeedIdentity();
        if (Backbone != MobileNet)
        {
            identity["backbone"] = Backbone;
            identity["train_backbone"] = TrainBackbone ? "true" : "false";
        }
        return identity;
    }

    private Dictionary<string, string> SeedIdentity() => new()
    {
        ["image_size"] = ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["class_limit"] = ClassLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["split"] = Split,
        ["seed"] = Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
