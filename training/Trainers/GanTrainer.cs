using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Evaluation;
using PunkGrid.Training.Imaging;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// What a GAN job's <c>eval.json</c> holds: how training ended (a GAN has no held-out loss to speak of). The final-step
/// losses and scores are null when the job took no step (resumed from a checkpoint of its last epoch).
/// </summary>
public sealed record GanEvaluation(
    string Profile,
    bool Conditional,
    double? FinalDiscriminatorLoss,
    double? FinalGeneratorLoss,
    double? FinalRealScore,
    double? FinalFakeScore,
    int TrainCount,
    int Epochs,
    int BatchSize,
    int Seed,
    string Device,
    double Seconds,
    double? PunkFid,
    double? TraitAgreement,
    double? AskedTraitRecall,
    double? TraitAgreementReal,
    double? AskedTraitRecallReal,
    double? SampleSpread,
    double? PunkFidReal,
    double? JudgeTestAccuracy,
    double? JudgeTestRecall,
    double? JudgeTestPrecision,
    int ImageSize,
    string Conditioning,
    double RealLabel,
    double AuxiliaryWeight,
    double? PunkFidUnpaired);

/// <summary>One adversarial step's losses and the discriminator's logits, in the caller's dispose scope; the trait losses only with auxiliary conditioning.</summary>
public readonly record struct AdversarialStepResult(
    Tensor DiscriminatorLoss, Tensor GeneratorLoss, Tensor RealLogits, Tensor FakeLogits, Tensor? DiscriminatorTraitLoss, Tensor? GeneratorTraitLoss);

/// <summary>
/// Trains the seed's Punk GAN on 64x64 RGBA punks (nearest-neighbour upscaled, alpha kept) or the tuned one on the
/// 24x24 punks themselves: per step one discriminator update (real vs generated, BCE) and one generator update.
/// Optionally conditioned on the 92 trait labels (as the discriminator's input, or through its auxiliary classifier). Every few epochs a grid from fixed noise (and, conditional, fixed real label sets) is stored as a PNG so
/// progress can be seen; checkpoints hold both networks, both optimizers and the RNG.
/// </summary>
public sealed partial class GanTrainer(GanTrainingOptions options, string dataDirectory) : ITrainer
{
    private const string GeneratorSection = "generator";
    private const string DiscriminatorSection = "discriminator";
    private const string GeneratorOptimizerSection = "generator_optimizer";
    private const string DiscriminatorOptimizerSection = "discriminator_optimizer";
    private const int MetricFlushSteps = 20;

    public string Kind => GanTrainingOptions.Kind;

    public static Tensor Upscale(Tensor tiles24, int imageSize = PunkGenerator.SeedImageSize) => imageSize == tiles24.shape[2]
        ? tiles24.alias()
        : nn.functional.interpolate(tiles24, [imageSize, imageSize], mode: InterpolationMode.Nearest);

    /// <summary>The 92 trait labels of every punk as floats <c>[10000, 92]</c>.</summary>
    public static Tensor LabelMatrix(PunkTraitTable traits)
    {
        var values = new float[PunkTraitTable.PunkCount * PunkTraitTable.TraitCount];
        for (var punk = 0; punk < PunkTraitTable.PunkCount; punk++)
        {
            for (var trait = 0; trait < PunkTraitTable.TraitCount; trait++)
            {
                values[(punk * PunkTraitTable.TraitCount) + trait] = traits.Has(punk, trait) ? 1f : 0f;
            }
        }
        return tensor(values, [PunkTraitTable.PunkCount, PunkTraitTable.TraitCount]);
    }

    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.ResolveDevice(context.Device);
        var data = PunkDataset.Load(dataDirectory);
        var split = PunkSplit.Create(data.Traits, options.Seed);
        var trainIds = (options.TrainLimit > 0 ? split.Train.Take(options.TrainLimit) : split.Train).Select(i => (long)i).ToArray();

        using var scope = NewDisposeScope();
        var ids = tensor(trainIds);
        var images = data.Tiles.index_select(0, ids).permute(0, 3, 1, 2).to(ScalarType.Float32).div(255f).to(device);
        var allLabels = LabelMatrix(data.Traits);
        var labels = allLabels.index_select(0, ids).to(device);
        var conditionSize = options.Conditional ? PunkTraitTable.TraitCount : 0;

        var judge = options.JudgeEpochs > 0 ? PunkJudge.For(data, options.Seed, options.JudgeEpochs) : null;
        var judgeIds = tensor(split.Test.Take(options.JudgeSamples).Select(i => (long)i).ToArray());
        var judgeReal = PunkImageTensors.ToModelInput(data.Tiles.index_select(0, judgeIds), PunkColorMode.Rgb);
        var judgeLabels = allLabels.index_select(0, judgeIds);

        var (createdGenerator, createdDiscriminator) = TorchRuntime.CreateSeeded(options.Seed, () =>
            (new PunkGenerator(conditionSize, options.ImageSize), new PunkDiscriminator(conditionSize, options.ImageSize, options.Conditioning)));
        using var generatorNet = createdGenerator;
        using var discriminator = createdDiscriminator;
        generatorNet.to(device);
        discriminator.to(device);
        using var generatorOptimizer = optim.Adam(generatorNet.parameters(), options.LearningRate, options.Beta1, 0.999);
        using var discriminatorOptimizer = optim.Adam(discriminator.parameters(), options.LearningRate, options.Beta1, 0.999);
        using var random = new Generator((ulong)options.Seed + 1);
        using var fixedRandom = new Generator((ulong)options.Seed + 7);
        var fixedNoise = randn([16, PunkGenerator.Noise], generator: fixedRandom).to(device);
        var testIds = split.Test.Take(16).Select(i => (long)i).ToArray();
        var fixedLabels = options.Conditional ? allLabels.index_select(0, tensor(testIds)).to(device) : null;

        var startEpoch = 0;
        long step = 0;
        if (context.LatestCheckpoint is { } checkpoint)
        {
            CheckpointCodec.RequireCompatible(checkpoint, Kind, options.CheckpointIdentity());
            TorchState.Load(generatorNet, checkpoint.Section(GeneratorSection), "generator");
            TorchState.Load(discriminator, checkpoint.Section(DiscriminatorSection), "discriminator");
            TorchState.Load(generatorOptimizer, checkpoint.Section(GeneratorOptimizerSection));
            TorchState.Load(discriminatorOptimizer, checkpoint.Section(DiscriminatorOptimizerSection));
            TorchState.Load(random, checkpoint.Section(TrainingCheckpoint.RngSection));
            (startEpoch, step) = (checkpoint.Epoch, checkpoint.Step);
        }

        var count = trainIds.Length;
        var stepsPerEpoch = count / options.BatchSize; // whole batches only: BCE on a batch of one is noise
        if (stepsPerEpoch == 0)
        {
            throw new ArgumentException($"gan: {count} training punks do not fill one batch of {options.BatchSize}");
        }
        var totalSteps = (long)stepsPerEpoch * options.Epochs;
        var metrics = new List<MetricSample>();
        (double D, double G, double Real, double Fake)? lastStep = null;
        for (var epoch = startEpoch; epoch < options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            using var order = randperm(count, generator: random);
            double dSum = 0, gSum = 0, traitSum = 0;
            for (var batch = 0; batch < stepsPerEpoch; batch++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var indices = order.narrow(0, batch * options.BatchSize, options.BatchSize).to(device);
                var real = Upscale(images.index_select(0, indices), options.ImageSize);
                var condition = options.Conditional ? labels.index_select(0, indices) : null;
                var noise = randn([options.BatchSize, PunkGenerator.Noise], generator: random).to(device);
                generatorNet.train();
                discriminator.train();
                var result = AdversarialStep(generatorNet, discriminator, generatorOptimizer, discriminatorOptimizer, real, noise, condition,
                    options.RealLabel, options.AuxiliaryWeight);
                var (dLoss, gLoss, realLogits, fakeLogits) = (result.DiscriminatorLoss, result.GeneratorLoss, result.RealLogits, result.FakeLogits);
                step++;
                if (result.GeneratorTraitLoss is { } traitLoss)
                {
                    traitSum += traitLoss.item<float>();
                }

                var last = (D: (double)dLoss.item<float>(), G: (double)gLoss.item<float>(), Real: (double)realLogits.sigmoid().mean().item<float>(),
                    Fake: (double)fakeLogits.sigmoid().mean().item<float>());
                lastStep = last;
                (dSum, gSum) = (dSum + last.D, gSum + last.G);
                metrics.Add(new MetricSample("d_loss", epoch + 1, step, last.D));
                metrics.Add(new MetricSample("g_loss", epoch + 1, step, last.G));
                metrics.Add(new MetricSample("d_real", epoch + 1, step, last.Real));
                metrics.Add(new MetricSample("d_fake", epoch + 1, step, last.Fake));
                context.ReportProgress(new TrainingProgress(epoch, options.Epochs, step, totalSteps, (batch + 1) * options.BatchSize / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
                if (step % MetricFlushSteps == 0)
                {
                    context.ReportMetrics(metrics.ToArray());
                    metrics.Clear();
                }
            }
            metrics.Add(new MetricSample("epoch_d_loss", epoch + 1, step, dSum / stepsPerEpoch));
            metrics.Add(new MetricSample("epoch_g_loss", epoch + 1, step, gSum / stepsPerEpoch));
            metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
            if (discriminator.PredictsTraits)
            {
                // How far the generated punks are from showing the asked traits, by the discriminator's own classifier.
                metrics.Add(new MetricSample("epoch_g_trait_loss", epoch + 1, step, traitSum / stepsPerEpoch));
            }
            if (judge is not null)
            {
                var (fid, traits, spread) = Judge(judge, generatorNet, judgeReal, judgeLabels, device);
                metrics.Add(new MetricSample("punk_fid", epoch + 1, step, fid));
                metrics.Add(new MetricSample("sample_spread", epoch + 1, step, spread));
                if (traits is { } t)
                {
                    metrics.Add(new MetricSample("trait_agreement", epoch + 1, step, t.AllFound));
                    metrics.Add(new MetricSample("asked_trait_recall", epoch + 1, step, t.Recall));
                }
            }
            context.ReportMetrics(metrics.ToArray());
            metrics.Clear();
            if ((epoch + 1) % options.SampleEvery == 0 || epoch + 1 == options.Epochs)
            {
                context.SaveArtifact($"samples-epoch-{epoch + 1:D4}.png", "image/png", Samples(generatorNet, fixedNoise, fixedLabels));
            }
            context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, null, options.CheckpointIdentity(),
                new Dictionary<string, byte[]>
                {
                    [GeneratorSection] = TorchState.Save(generatorNet),
                    [DiscriminatorSection] = TorchState.Save(discriminator),
                    [GeneratorOptimizerSection] = TorchState.Save(generatorOptimizer),
                    [DiscriminatorOptimizerSection] = TorchState.Save(discriminatorOptimizer),
                    [TrainingCheckpoint.RngSection] = TorchState.Save(random),
                }));
            context.ReportProgress(new TrainingProgress(epoch + 1, options.Epochs, step, totalSteps, count / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            LogEpoch(context.Logger, epoch + 1, options.Epochs, dSum / stepsPerEpoch, gSum / stepsPerEpoch);
        }

        context.SaveArtifact("samples.png", "image/png", Samples(generatorNet, fixedNoise, fixedLabels));
        var final = judge is null ? default((double Fid, TraitMatch? Traits, double Spread)?) : Judge(judge, generatorNet, judgeReal, judgeLabels, device);
        // The ceiling for the conditional scores: the judge on the held-out real punks, asked for their own traits.
        var realTraits = judge is not null && options.Conditional ? judge.MatchTraits(judgeReal, judgeLabels) : (TraitMatch?)null;
        // The floor for Punk-FID at this sample size: the held-out punks against as many training punks.
        var floorIds = tensor(trainIds.Take((int)judgeReal.shape[0]).ToArray());
        double? fidReal = judge?.FrechetDistance(judgeReal, PunkImageTensors.ToModelInput(data.Tiles.index_select(0, floorIds), PunkColorMode.Rgb));
        // A conditional GAN's punk_fid asks for the held-out punks' own trait sets, which a real-punk sample of other punks
        // does not share: it can go below the floor. Asked for the floor's training punks' trait sets instead, it is a
        // generator of punks in general, comparable with the floor and with a plain GAN's punk_fid.
        double? fidUnpaired = judge is not null && options.Conditional
            ? judge.FrechetDistance(judgeReal, Draw(generatorNet, allLabels.index_select(0, floorIds), device))
            : null;
        var evaluation = new GanEvaluation(options.Profile, options.Conditional, lastStep?.D, lastStep?.G, lastStep?.Real, lastStep?.Fake, count, options.Epochs,
            options.BatchSize, options.Seed, device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), final?.Fid,
            final?.Traits?.AllFound, final?.Traits?.Recall, realTraits?.AllFound, realTraits?.Recall, final?.Spread, fidReal, judge?.TestAccuracy, judge?.TestRecall, judge?.TestPrecision,
            options.ImageSize, options.Conditional ? options.Conditioning : "none", options.RealLabel, options.AuxiliaryWeight, fidUnpaired);
        var json = JsonSerializer.Serialize(evaluation, TraitTrainer.JsonOptions);
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", TorchState.Save(generatorNet));
        context.SaveArtifact("discriminator.bin", "application/x-torchsharp-module", TorchState.Save(discriminator));
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(json));
        var summary = lastStep is { } end ? new Dictionary<string, double> { ["d_loss"] = end.D, ["g_loss"] = end.G } : new Dictionary<string, double>();
        return new TrainingResult(Kind, json, summary);
    }

    /// <summary>
    /// Punk-FID of generated punks (one per row of <paramref name="labels"/>) against the held-out ones; their spread (per-pixel standard deviation across the
    /// samples over that of the held-out punks: 1 is as varied as real punks, near 0 is a collapsed generator drawing
    /// one punk whatever the noise); and, for a conditional GAN asked for the held-out punks' trait sets, how well the
    /// generated punks show them (<see cref="PunkJudge.MatchTraits"/>).
    /// </summary>
    private (double Fid, TraitMatch? Traits, double Spread) Judge(PunkJudge judge, PunkGenerator generator, Tensor real, Tensor labels, Device device)
    {
        using var scope = NewDisposeScope();
        var generated = Draw(generator, labels, device);
        var spread = generated.std(0).mean().item<float>() / real.std(0).mean().item<float>();
        return (judge.FrechetDistance(real, generated), options.Conditional ? judge.MatchTraits(generated, labels) : null, spread);
    }

    /// <summary>
    /// One generated punk per row of <paramref name="labels"/> (asked for those traits when conditional), from the judging
    /// noise, as the judge's 24x24 RGB input on the CPU.
    /// </summary>
    private Tensor Draw(PunkGenerator generator, Tensor labels, Device device)
    {
        generator.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var sampler = new Generator((ulong)options.Seed + 13);
        var noise = randn([labels.shape[0], PunkGenerator.Noise], generator: sampler).to(device);
        return PunkJudge.ToJudgeInput(generator.forward(noise, options.Conditional ? labels.to(device) : null)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One training step of the pair: a discriminator update (real punks vs generated ones, BCE, real ones labelled
    /// <paramref name="realLabel"/>) and a generator update (the non-saturating loss: generated punks labelled real), on
    /// the same generated batch. With auxiliary conditioning the discriminator also learns the 92 labels of the real
    /// punks, and the generator is also scored on whether the discriminator finds the asked labels in its punks (both
    /// multi-label BCE summed over the labels, times <paramref name="auxiliaryWeight"/>); the discriminator never
    /// learns labels from generated punks, so it cannot be taught the generator's mistakes.
    /// </summary>
    public static AdversarialStepResult AdversarialStep(
        PunkGenerator generator, PunkDiscriminator discriminator, optim.Optimizer generatorOptimizer, optim.Optimizer discriminatorOptimizer,
        Tensor real, Tensor noise, Tensor? condition, double realLabel = 1.0, double auxiliaryWeight = 1.0)
    {
        var ones = torch.ones(real.shape[0], 1, device: real.device);
        var realTargets = realLabel == 1.0 ? ones : ones.mul(realLabel);
        var zeros = torch.zeros(real.shape[0], 1, device: real.device);
        var auxiliary = discriminator.PredictsTraits && condition is not null;
        var labelsForDiscriminator = discriminator.Conditioning == GanConditioning.Input ? condition : null;
        var fake = generator.forward(noise, condition);
        discriminatorOptimizer.zero_grad();
        var realVerdict = discriminator.Judge(real, labelsForDiscriminator);
        var fakeVerdict = discriminator.Judge(fake.detach(), labelsForDiscriminator);
        var dLoss = nn.functional.binary_cross_entropy_with_logits(realVerdict.RealLogits, realTargets)
            + nn.functional.binary_cross_entropy_with_logits(fakeVerdict.RealLogits, zeros);
        Tensor? dTraitLoss = null;
        if (auxiliary)
        {
            dTraitLoss = TraitLoss(realVerdict.TraitLogits!, condition!);
            dLoss = dLoss + (dTraitLoss * auxiliaryWeight);
        }
        dLoss.backward();
        discriminatorOptimizer.step();

        generatorOptimizer.zero_grad();
        var verdict = discriminator.Judge(fake, labelsForDiscriminator);
        var gLoss = nn.functional.binary_cross_entropy_with_logits(verdict.RealLogits, ones);
        Tensor? gTraitLoss = null;
        if (auxiliary)
        {
            gTraitLoss = TraitLoss(verdict.TraitLogits!, condition!);
            gLoss = gLoss + (gTraitLoss * auxiliaryWeight);
        }
        gLoss.backward();
        generatorOptimizer.step();
        return new AdversarialStepResult(dLoss, gLoss, realVerdict.RealLogits, fakeVerdict.RealLogits, dTraitLoss, gTraitLoss);
    }

    /// <summary>Multi-label BCE of trait logits against 0/1 labels, summed over the labels and averaged over the batch.</summary>
    private static Tensor TraitLoss(Tensor logits, Tensor labels) =>
        nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction: nn.Reduction.Sum).div(labels.shape[0]);

    private static byte[] Samples(PunkGenerator generator, Tensor noise, Tensor? labels)
    {
        generator.eval();
        using var noGrad = no_grad();
        using var images = generator.forward(noise, labels);
        return ImageGrid.ToPng(images, columns: 8, scale: GridScale(generator.ImageSize));
    }

    /// <summary>Pixels per image pixel in sample grids: 24x24 punks drawn at 72x72, about the seed's 64x64, so grids of both look alike.</summary>
    public static int GridScale(int imageSize) => imageSize == PunkGenerator.NativeImageSize ? 3 : 1;

    [LoggerMessage(Level = LogLevel.Information, Message = "GAN epoch {Epoch}/{Epochs}: D loss {D:F3}, G loss {G:F3}")]
    private static partial void LogEpoch(ILogger logger, int epoch, int epochs, double d, double g);
}
