namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of the Pokémon classifier. <c>seed</c> is the write-up: MobileNetV3, cross-entropy, Adam lr 0.001
/// decayed ×0.9 per epoch, 25 epochs, best-on-validation weights kept; batch 32 and 96x96 input are our choices for a
/// CPU (the write-up used torchvision's 224x224 with pretrained weights, which cannot be had here: this one trains
/// from scratch). <c>quick</c>: 1 epoch on the first 10 classes at 64x64. <c>split=naive</c> trains on the image-by-image
/// split instead of the duplicate-aware one, to measure the difference. <c>backbone=resnet18-imagenet</c> starts from the
/// ImageNet ResNet-18 of the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 instead (the write-up's approach:
/// pretrained weights): <c>fine_tune=none</c> trains a classifier on its frozen features, <c>last-stage</c> the last stage
/// and the classifier on the earlier stages' outputs (computed once, of each training image and its mirror image),
/// <c>all</c> the whole network; pretrained layers learn at <c>backbone_lr</c>, the new classifier at <c>lr</c>.
/// <c>tuned</c>: the ImageNet ResNet-18 at 224x224 with its last stage fine-tuned, 6 epochs, label smoothing 0.1 — the
/// write-up's transfer learning within a CPU's hour.
/// </summary>
public sealed record PokemonTrainingOptions
{
    public const string Kind = "pokemon";

    public string Profile { get; init; } = "seed";

    /// <summary>Stop after this epoch (0: train all <see cref="Epochs"/>), as a search's trial stops at a rung; the schedule still spans <see cref="Epochs"/>.</summary>
    public int StopAfterEpoch { get; init; }

    /// <summary>The epoch this job trains to: <see cref="StopAfterEpoch"/> when set, else <see cref="Epochs"/>.</summary>
    public int LastEpoch => StopAfterEpoch > 0 ? Math.Min(StopAfterEpoch, Epochs) : Epochs;

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

    /// <summary>With <c>resnet18-imagenet</c>: what is trained besides the new classifier (<see cref="FineTuneNone"/>, <see cref="FineTuneLastStage"/>, <see cref="FineTuneAll"/>).</summary>
    public string FineTune { get; init; } = FineTuneNone;

    /// <summary>The learning rate of the pretrained layers that <see cref="FineTune"/> trains (the classifier's is <see cref="LearningRate"/>).</summary>
    public double BackboneLearningRate { get; init; } = 0.0001;

    /// <summary>Cross-entropy against targets with this much mass spread over all classes (0: the seed's plain cross-entropy).</summary>
    public double LabelSmoothing { get; init; }

    public const string MobileNet = "mobilenetv3-small";
    public const string ResNetImageNet = "resnet18-imagenet";

    /// <summary>The backbone frozen: its pooled features computed once, a linear classifier trained on them.</summary>
    public const string FineTuneNone = "none";

    /// <summary>Stem and stages 1–3 frozen (their output computed once); the last stage and the classifier trained.</summary>
    public const string FineTuneLastStage = "last-stage";

    /// <summary>The whole network trained from the ImageNet weights.</summary>
    public const string FineTuneAll = "all";

    /// <summary>Whether the network runs on pixels during training (MobileNet, or every ResNet layer trained), so pixel augmentation applies.</summary>
    public bool TrainsOnPixels => Backbone == MobileNet || FineTune == FineTuneAll;

    public int Seed { get; init; } = 42;

    public static PokemonTrainingOptions Create(string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.RequireStopWithinEpochs(Kind, TrainingParameters.Apply(
        Kind,
        profile,
        seed: new PokemonTrainingOptions(),
        quick: new PokemonTrainingOptions { Profile = "quick", Epochs = 1, ClassLimit = 10, ImageSize = 64 },
        overrides,
        (baseline, p) => baseline with
        {
            Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
            StopAfterEpoch = p.Int("stop_after_epoch", baseline.StopAfterEpoch, 0, 10_000),
            BatchSize = p.Int("batch_size", baseline.BatchSize, 2, 100_000),
            LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
            LearningRateDecay = p.Double("lr_decay", baseline.LearningRateDecay, 0.01, 1),
            ImageSize = p.Int("image_size", baseline.ImageSize, 32, 512),
            ClassLimit = p.Int("class_limit", baseline.ClassLimit, 0, 151),
            Augment = p.Flag("augment", baseline.Augment),
            Split = p.Choice("split", baseline.Split, "aware", "naive"),
            Backbone = p.Choice("backbone", baseline.Backbone, MobileNet, ResNetImageNet),
            FineTune = p.Choice("fine_tune", baseline.FineTune, FineTuneNone, FineTuneLastStage, FineTuneAll),
            BackboneLearningRate = p.Double("backbone_lr", baseline.BackboneLearningRate, 0, 10),
            LabelSmoothing = p.Double("label_smoothing", baseline.LabelSmoothing, 0, 0.5),
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
        },
        more: new Dictionary<string, PokemonTrainingOptions>
        {
            ["tuned"] = new()
            {
                Profile = "tuned",
                Backbone = ResNetImageNet,
                FineTune = FineTuneLastStage,
                ImageSize = 224,
                Epochs = 6,
                LearningRateDecay = 0.8,
                LabelSmoothing = 0.1,
            },
        }), o => (o.StopAfterEpoch, o.Epochs));

    /// <summary>What a checkpoint must match to be resumed from (the backbone only when not the seed's, so earlier checkpoints still match).</summary>
    public IReadOnlyDictionary<string, string> CheckpointIdentity()
    {
        var identity = SeedIdentity();
        if (Backbone != MobileNet)
        {
            identity["backbone"] = Backbone;
            identity["fine_tune"] = FineTune;
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
