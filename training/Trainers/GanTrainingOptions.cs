using System.Globalization;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of a Punk GAN job. <c>seed</c> is the write-up: 64x64x4 RGBA, Adam lr 0.0002 for both networks
/// (β1 0.5, the DCGAN value; the write-up gives none), BCE, 100 epochs; batch 64 (not given either). A sample grid
/// from fixed noise every <see cref="SampleEvery"/> epochs. <c>quick</c>: 1 epoch on 512 punks.
/// <see cref="Conditional"/> conditions both networks on the 92 trait labels (the write-up's own "how to improve").
/// </summary>
public sealed record GanTrainingOptions
{
    public const string Kind = "gan";

    public string Profile { get; init; } = "seed";

    public int Epochs { get; init; } = 100;

    public int BatchSize { get; init; } = 64;

    public double LearningRate { get; init; } = 0.0002;

    public double Beta1 { get; init; } = 0.5;

    public bool Conditional { get; init; }

    public int SampleEvery { get; init; } = 5;

    /// <summary>Use at most this many training punks (0: the whole 80 % training split).</summary>
    public int TrainLimit { get; init; }

    public int Seed { get; init; } = 42;

    /// <summary>Epochs of the punk feature network that judges samples (Punk-FID, trait agreement): 30 (seed; about a minute on 2 CPU cores, recall 0.95 over the 92 labels on held-out punks) or 4 (quick; recall 0.34); 0 turns judging off.</summary>
    public int JudgeEpochs { get; init; } = 30;

    /// <summary>Samples compared with as many held-out punks for the Punk-FID.</summary>
    public int JudgeSamples { get; init; } = 500;

    public static GanTrainingOptions Create(string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.Apply(
        Kind,
        profile,
        seed: new GanTrainingOptions(),
        quick: new GanTrainingOptions { Profile = "quick", Epochs = 1, TrainLimit = 512, SampleEvery = 1, JudgeEpochs = 4 },
        overrides,
        (baseline, p) => baseline with
        {
            Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
            BatchSize = p.Int("batch_size", baseline.BatchSize, 2, 100_000),
            LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
            Beta1 = p.Double("beta1", baseline.Beta1, 0, 0.999),
            Conditional = p.Flag("conditional", baseline.Conditional),
            SampleEvery = p.Int("sample_every", baseline.SampleEvery, 1, 10_000),
            TrainLimit = p.Int("train_limit", baseline.TrainLimit, 0, 10_000),
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
            JudgeEpochs = p.Int("judge_epochs", baseline.JudgeEpochs, 0, 1000),
            JudgeSamples = p.Int("judge_samples", baseline.JudgeSamples, 2, 10_000),
        });

    public IReadOnlyDictionary<string, string> CheckpointIdentity() => new Dictionary<string, string>
    {
        ["conditional"] = Conditional ? "true" : "false",
        ["batch_size"] = BatchSize.ToString(CultureInfo.InvariantCulture),
        ["train_limit"] = TrainLimit.ToString(CultureInfo.InvariantCulture),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
    };
}
