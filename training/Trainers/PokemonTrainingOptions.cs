namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of the Pokémon classifier. <c>seed</c> is the write-up: MobileNetV3, cross-entropy, Adam lr 0.001
/// decayed ×0.9 per epoch, 25 epochs, best-on-validation weights kept; batch 32 and 96x96 input are our choices for a
/// CPU (the write-up used torchvision's 224x224 with pretrained weights, which cannot be had here: this one trains
/// from scratch). <c>quick</c>: 1 epoch on the first 10 classes at 64x64. <c>split=naive</c> trains on the image-by-image
/// split instead of the duplicate-aware one, to measure the difference.
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
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
        });

    public IReadOnlyDictionary<string, string> CheckpointIdentity() => new Dictionary<string, string>
    {
        ["image_size"] = ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["class_limit"] = ClassLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["split"] = Split,
        ["seed"] = Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
