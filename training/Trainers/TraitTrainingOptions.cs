using System.Globalization;
using PunkGrid.Training.Data;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of one trait classifier job. <c>seed</c> is the write-up exactly: 16,000 balanced samples,
/// 12 epochs, batch 100, AdaGrad (lr 0.01, lr-decay 0.01, weight decay 0, eps 1e-10), grayscale, 10 monitoring
/// samples in and out each step. <c>quick</c> is 1 epoch of 2,000 samples. Any value can be overridden.
/// </summary>
public sealed record TraitTrainingOptions
{
    public const string Kind = "trait";

    public required string Trait { get; init; }

    public string Profile { get; init; } = "seed";

    public PunkColorMode Color { get; init; } = PunkColorMode.Gray;

    public int Epochs { get; init; } = 12;

    public int TrainSamples { get; init; } = 16_000;

    public int BatchSize { get; init; } = 100;

    public double LearningRate { get; init; } = 0.01;

    public double LearningRateDecay { get; init; } = 0.01;

    public double WeightDecay { get; init; }

    public double InitialAccumulatorValue { get; init; }

    public double Eps { get; init; } = 1e-10;

    /// <summary>Samples drawn in and out of the training set at every step to track accuracy and loss, as the seed does.</summary>
    public int MonitorSamples { get; init; } = 10;

    /// <summary>Seeds the split, the balanced set, the weights and the batch order.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Builds the options of <paramref name="profile"/>, then applies <paramref name="overrides"/>.</summary>
    public static TraitTrainingOptions Create(string trait, string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.Apply(
        Kind,
        profile,
        seed: new TraitTrainingOptions { Trait = trait, Profile = "seed" },
        quick: new TraitTrainingOptions { Trait = trait, Profile = "quick", Epochs = 1, TrainSamples = 2_000 },
        overrides,
        (baseline, p) => baseline with
        {
            Color = PunkImageTensors.ParseColorMode(p.Choice("color", baseline.Color.ToString().ToLowerInvariant(), "gray", "rgb")),
            Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
            TrainSamples = p.Int("train_samples", baseline.TrainSamples, 2, 10_000_000),
            BatchSize = p.Int("batch_size", baseline.BatchSize, 1, 100_000),
            LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
            LearningRateDecay = p.Double("lr_decay", baseline.LearningRateDecay, 0, 10),
            WeightDecay = p.Double("weight_decay", baseline.WeightDecay, 0, 10),
            InitialAccumulatorValue = p.Double("initial_accumulator", baseline.InitialAccumulatorValue, 0, 10),
            Eps = p.Double("eps", baseline.Eps, 0, 1),
            MonitorSamples = p.Int("monitor_samples", baseline.MonitorSamples, 0, 10_000),
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
        });

    /// <summary>The settings a checkpoint must share with the job resuming from it.</summary>
    public IReadOnlyDictionary<string, string> CheckpointIdentity(string canonicalTrait) => new Dictionary<string, string>
    {
        ["trait"] = canonicalTrait,
        ["color"] = Color.ToString().ToLowerInvariant(),
        ["train_samples"] = TrainSamples.ToString(CultureInfo.InvariantCulture),
        ["batch_size"] = BatchSize.ToString(CultureInfo.InvariantCulture),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
    };
}
