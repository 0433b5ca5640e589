using System.Globalization;
using PunkGrid.Training.Models;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Hyperparameters of a Punk GAN job. <c>seed</c> is the write-up: 64x64x4 RGBA, Adam lr 0.0002 for both networks
/// (β1 0.5, the DCGAN value; the write-up gives none), BCE, 100 epochs; batch 64 (not given either). A sample grid
/// from fixed noise every <see cref="SampleEvery"/> epochs. <c>quick</c>: 1 epoch on 512 punks.
/// <see cref="Conditional"/> conditions both networks on the 92 trait labels (the write-up's own "how to improve").
/// <c>tuned</c>: what the seed runs' measurements asked for (docs/RESULTS.md) — the punks' native 24x24 instead of an
/// upscaled 64x64 copy (a tenth of the arithmetic per epoch), one-sided label smoothing (real punks labelled 0.9: the
/// seed's plain discriminator won, D(generated) 0.02), and for the conditional GAN an auxiliary trait classifier in
/// the discriminator (AC-GAN) instead of labels as input (the seed's found 65 % of the asked traits after 30 epochs).
/// </summary>
public sealed record GanTrainingOptions
{
    public const string Kind = "gan";

    public string Profile { get; init; } = "seed";

    /// <summary>Stop after this epoch (0: train all <see cref="Epochs"/>), as a search's trial stops at a rung; the schedule still spans <see cref="Epochs"/>.</summary>
    public int StopAfterEpoch { get; init; }

    /// <summary>The epoch this job trains to: <see cref="StopAfterEpoch"/> when set, else <see cref="Epochs"/>.</summary>
    public int LastEpoch => StopAfterEpoch > 0 ? Math.Min(StopAfterEpoch, Epochs) : Epochs;

    public int Epochs { get; init; } = 100;

    public int BatchSize { get; init; } = 64;

    public double LearningRate { get; init; } = 0.0002;

    public double Beta1 { get; init; } = 0.5;

    public bool Conditional { get; init; }

    public int SampleEvery { get; init; } = 5;

    /// <summary>Use at most this many training punks (0: the whole 80 % training split).</summary>
    public int TrainLimit { get; init; }

    public int Seed { get; init; } = 42;

    /// <summary>Side of the images both networks work on: 64 (the write-up's, the 24x24 punks upscaled) or 24 (the punks' own pixels).</summary>
    public int ImageSize { get; init; } = PunkGenerator.SeedImageSize;

    /// <summary>How a conditional discriminator uses the labels: <see cref="GanConditioning.Input"/> (seed) or <see cref="GanConditioning.Auxiliary"/> (tuned).</summary>
    public string Conditioning { get; init; } = GanConditioning.Input;

    /// <summary>Weight of the auxiliary trait loss (summed over the 92 labels, mean over the batch) in both networks' losses.</summary>
    public double AuxiliaryWeight { get; init; } = 1.0;

    /// <summary>The discriminator's target for real punks: 1 (seed) or less (one-sided label smoothing, Salimans et al. 2016).</summary>
    public double RealLabel { get; init; } = 1.0;

    /// <summary>Epochs of the punk feature network that judges samples (Punk-FID, trait agreement): 30 (seed; about a minute on 2 CPU cores, recall 0.95 over the 92 labels on held-out punks) or 4 (quick; recall 0.34); 0 turns judging off.</summary>
    public int JudgeEpochs { get; init; } = 30;

    /// <summary>Samples compared with as many held-out punks for the Punk-FID.</summary>
    public int JudgeSamples { get; init; } = 500;

    public static GanTrainingOptions Create(string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.RequireStopWithinEpochs(Kind, TrainingParameters.Apply(
        Kind,
        profile,
        seed: new GanTrainingOptions(),
        quick: new GanTrainingOptions { Profile = "quick", Epochs = 1, TrainLimit = 512, SampleEvery = 1, JudgeEpochs = 4 },
        overrides,
        (baseline, p) => baseline with
        {
            Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
            StopAfterEpoch = p.Int("stop_after_epoch", baseline.StopAfterEpoch, 0, 10_000),
            BatchSize = p.Int("batch_size", baseline.BatchSize, 2, 100_000),
            LearningRate = p.Double("lr", baseline.LearningRate, 1e-9, 10),
            Beta1 = p.Double("beta1", baseline.Beta1, 0, 0.999),
            Conditional = p.Flag("conditional", baseline.Conditional),
            SampleEvery = p.Int("sample_every", baseline.SampleEvery, 1, 10_000),
            TrainLimit = p.Int("train_limit", baseline.TrainLimit, 0, 10_000),
            Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
            JudgeEpochs = p.Int("judge_epochs", baseline.JudgeEpochs, 0, 1000),
            JudgeSamples = p.Int("judge_samples", baseline.JudgeSamples, 2, 10_000),
            ImageSize = int.Parse(p.Choice("image_size", baseline.ImageSize.ToString(CultureInfo.InvariantCulture),
                [.. PunkGanSizes.Allowed.Select(s => s.ToString(CultureInfo.InvariantCulture))]), CultureInfo.InvariantCulture),
            Conditioning = p.Choice("conditioning", baseline.Conditioning, [.. GanConditioning.All]),
            AuxiliaryWeight = p.Double("aux_weight", baseline.AuxiliaryWeight, 0, 100),
            RealLabel = p.Double("real_label", baseline.RealLabel, 0.5, 1),
        },
        new Dictionary<string, GanTrainingOptions>
        {
            ["tuned"] = new()
            {
                Profile = "tuned",
                ImageSize = PunkGenerator.NativeImageSize,
                Conditioning = GanConditioning.Auxiliary,
                RealLabel = 0.9,
            },
        }), o => (o.StopAfterEpoch, o.Epochs));

    public IReadOnlyDictionary<string, string> CheckpointIdentity() => new Dictionary<string, string>
    {
        ["conditional"] = Conditional ? "true" : "false",
        ["batch_size"] = BatchSize.ToString(CultureInfo.InvariantCulture),
        ["train_limit"] = TrainLimit.ToString(CultureInfo.InvariantCulture),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
        ["image_size"] = ImageSize.ToString(CultureInfo.InvariantCulture),
        ["conditioning"] = Conditional ? Conditioning : "none",
    };
}
