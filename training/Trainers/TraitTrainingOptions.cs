using System.Globalization;
using PunkGrid.Training.Data;
using PunkGrid.Training.Models;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of one trait classifier job. <c>seed</c> is the write-up exactly: 16,000 balanced samples,
/// 12 epochs, batch 100, AdaGrad (lr 0.01, lr-decay 0.01, weight decay 0, eps 1e-10), grayscale, 10 monitoring
/// samples in and out each step, a punk called positive when its softmax says so (threshold 0.5). <c>quick</c> is 1
/// epoch of 2,000 samples (a smoke test). Beyond the seed: <c>tuned</c> (the best we measured: rgb, Adam with a cosine
/// schedule, and the decision threshold chosen on a validation split carved from the training split, because a
/// model trained on balanced samples over-calls rare traits on the real, unbalanced population) and <c>demo</c> (the
/// same recipe, short enough for the demo's whole sweep to take minutes). Any value can be overridden.
/// </summary>
public sealed record TraitTrainingOptions
{
    public const string Kind = "trait";

    public required string Trait { get; init; }

    public string Profile { get; init; } = "seed";

    public PunkColorMode Color { get; init; } = PunkColorMode.Gray;

    public int Epochs { get; init; } = 12;

    /// <summary>
    /// Ends training after this epoch (evaluated and stored like a last epoch) while the schedule stays that of
    /// <see cref="Epochs"/>: how a search stops a trial at a rung and later trains it on from its checkpoint (raising this
    /// and resuming) with no epoch trained twice. 0: train all <see cref="Epochs"/>.
    /// </summary>
    public int StopAfterEpoch { get; init; }

    /// <summary>The epoch this job trains to: <see cref="StopAfterEpoch"/> when set, else <see cref="Epochs"/>.</summary>
    public int LastEpoch => StopAfterEpoch > 0 ? Math.Min(StopAfterEpoch, Epochs) : Epochs;

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

    /// <summary><c>adagrad</c> (the seed) or <c>adam</c> (lr, weight decay and eps apply to both).</summary>
    public string Optimizer { get; init; } = "adagrad";

    /// <summary><c>constant</c> (the seed; AdaGrad still applies its lr-decay) or <c>cosine</c>: the learning rate
    /// follows half a cosine from lr to 0 over the job's steps.</summary>
    public string LearningRateSchedule { get; init; } = "constant";

    /// <summary>Share of the training split's positives and of its negatives kept out of training to choose the
    /// decision threshold (0: none, the seed). Never the test split.</summary>
    public double ValidationFraction { get; init; }

    /// <summary><c>0.5</c> (the seed: the softmax's call) or <c>validation</c>: the probability threshold with the best
    /// F1 on the validation split (the middle of the best interval), applied to the test split.</summary>
    public string Threshold { get; init; } = "0.5";

    /// <summary><c>seed</c> (the write-up's CNN: global max-pooling) or <c>positional</c> (its convolutions, the whole
    /// final map to the classifier: see <see cref="TraitCnn"/>).</summary>
    public TraitCnnArchitecture Architecture { get; init; } = TraitCnnArchitecture.Seed;

    /// <summary>Builds the options of <paramref name="profile"/>, then applies <paramref name="overrides"/>.</summary>
    public static TraitTrainingOptions Create(string trait, string profile, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var options = TrainingParameters.Apply(
            Kind,
            profile,
            seed: new TraitTrainingOptions { Trait = trait, Profile = "seed" },
            quick: new TraitTrainingOptions { Trait = trait, Profile = "quick", Epochs = 1, TrainSamples = 2_000 },
            overrides,
            (baseline, p) => baseline with
            {
                Architecture = TraitCnnArchitectures.Parse(p.Choice("architecture", baseline.Architecture.Name(), [.. TraitCnnArchitectures.Names])),
                Optimizer = p.Choice("optimizer", baseline.Optimizer, "adagrad", "adam"),
                LearningRateSchedule = p.Choice("lr_schedule", baseline.LearningRateSchedule, "constant", "cosine"),
                ValidationFraction = p.Double("validation_fraction", baseline.ValidationFraction, 0, 0.5),
                Threshold = p.Choice("threshold", baseline.Threshold, "0.5", "validation"),
                Color = PunkImageTensors.ParseColorMode(p.Choice("color", baseline.Color.ToString().ToLowerInvariant(), "gray", "rgb")),
                Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
                StopAfterEpoch = p.Int("stop_after_epoch", baseline.StopAfterEpoch, 0, 10_000),
                TrainSamples = p.Int("train_samples", baseline.TrainSamples, 2, 10_000_000),
                BatchSize = p.Int("batch_size", baseline.BatchSize, 1, 100_000),
                LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
                LearningRateDecay = p.Double("lr_decay", baseline.LearningRateDecay, 0, 10),
                WeightDecay = p.Double("weight_decay", baseline.WeightDecay, 0, 10),
                InitialAccumulatorValue = p.Double("initial_accumulator", baseline.InitialAccumulatorValue, 0, 10),
                Eps = p.Double("eps", baseline.Eps, 0, 1),
                MonitorSamples = p.Int("monitor_samples", baseline.MonitorSamples, 0, 10_000),
                Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
            },
            more: new Dictionary<string, TraitTrainingOptions>
            {
                ["tuned"] = Tuned(trait),
                ["demo"] = Tuned(trait) with { Profile = "demo", Epochs = 1, TrainSamples = 12_000, LearningRate = 0.002, MonitorSamples = 0 },
            });
        TrainingParameters.RequireStopWithinEpochs(Kind, options, o => (o.StopAfterEpoch, o.Epochs));
        if (options.Threshold == "validation" && options.ValidationFraction <= 0)
        {
            throw new ArgumentException($"trait parameter threshold='validation' needs a validation split: set validation_fraction above 0 (it is {options.ValidationFraction.ToString(CultureInfo.InvariantCulture)})");
        }
        return options;
    }

    private static TraitTrainingOptions Tuned(string trait) => new()
    {
        Trait = trait,
        Profile = "tuned",
        Color = PunkColorMode.Rgb,
        Optimizer = "adam",
        LearningRate = 0.001,
        LearningRateDecay = 0,
        LearningRateSchedule = "cosine",
        ValidationFraction = 0.15,
        Threshold = "validation",
    };

    /// <summary>
    /// The settings a checkpoint must share with the job resuming from it. The optimizer and the validation split
    /// are named only when they differ from the seed's, so checkpoints written before they existed still resume.
    /// </summary>
    public IReadOnlyDictionary<string, string> CheckpointIdentity(string canonicalTrait)
    {
        var identity = new Dictionary<string, string>
        {
            ["trait"] = canonicalTrait,
            ["color"] = Color.ToString().ToLowerInvariant(),
            ["train_samples"] = TrainSamples.ToString(CultureInfo.InvariantCulture),
            ["batch_size"] = BatchSize.ToString(CultureInfo.InvariantCulture),
            ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
        };
        if (Optimizer != "adagrad")
        {
            identity["optimizer"] = Optimizer;
        }
        if (Architecture != TraitCnnArchitecture.Seed)
        {
            identity["architecture"] = Architecture.Name();
        }
        if (ValidationFraction > 0)
        {
            identity["validation_fraction"] = ValidationFraction.ToString(CultureInfo.InvariantCulture);
        }
        return identity;
    }
}
