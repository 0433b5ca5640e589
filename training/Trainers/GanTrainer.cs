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

    /// <summary>The training punks as RGBA tensors and their labels on the device; the held-out punks the judge compares with.</summary>
    private sealed record GanData(
        PunkDataset Punks, PunkSplit Split, long[] TrainIds, Tensor Images, Tensor AllLabels, Tensor Labels,
        PunkJudge? Judge, Tensor JudgeReal, Tensor JudgeLabels);

    /// <summary>The two networks and their optimisers.</summary>
    private sealed record GanNetworks(PunkGenerator Generator, PunkDiscriminator Discriminator,
        TorchSharp.Modules.Adam GeneratorOptimizer, TorchSharp.Modules.Adam DiscriminatorOptimizer) : IDisposable
    {
        public void Dispose()
        {
            DiscriminatorOptimizer.Dispose();
            GeneratorOptimizer.Dispose();
            Discriminator.Dispose();
            Generator.Dispose();
        }
    }

    /// <summary>One epoch's mean losses, the last step's losses and verdicts, and the step metrics not yet reported (they go with the epoch's).</summary>
    private sealed record GanEpoch(double MeanD, double MeanG, double MeanTraitLoss, (double D, double G, double Real, double Fake) Last, List<MetricSample> Pending);

    /// <summary>Load, build, resume; then per epoch: train, judge, persist; then the final judgement and the models.</summary>
    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.ResolveDevice(context.Device);
        var punks = PunkDataset.Load(dataDirectory);
        var split = PunkSplit.Create(punks.Traits, options.Seed);
        using var scope = NewDisposeScope();
        var data = Load(punks, split, device);

        using var networks = Build(device);
        using var random = new Generator((ulong)options.Seed + 1);
        using var fixedRandom = new Generator((ulong)options.Seed + 7);
        var fixedNoise = randn([16, PunkGenerator.Noise], generator: fixedRandom).to(device);
        var fixedLabels = options.Conditional ? data.AllLabels.index_select(0, tensor(split.Test.Take(16).Select(i => (long)i).ToArray())).to(device) : null;
        var (startEpoch, step) = Resume(context, networks, random);

        var count = data.TrainIds.Length;
        var stepsPerEpoch = count / options.BatchSize; // whole batches only: BCE on a batch of one is noise
        if (stepsPerEpoch == 0)
        {
            throw new ArgumentException($"gan: {count} training punks do not fill one batch of {options.BatchSize}");
        }
        var totalSteps = (long)stepsPerEpoch * options.LastEpoch;
        (double D, double G, double Real, double Fake)? lastStep = null;
        for (var epoch = startEpoch; epoch < options.LastEpoch; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var trained = TrainEpoch(context, data, networks, random, epoch, step, stepsPerEpoch, totalSteps, epochClock);
            step += stepsPerEpoch;
            lastStep = trained.Last;
            ReportEpoch(context, data, networks, trained, epoch, step, epochClock, device);
            if ((epoch + 1) % options.SampleEvery == 0 || epoch + 1 == options.LastEpoch)
            {
                context.SaveArtifact($"samples-epoch-{epoch + 1:D4}.png", "image/png", Samples(networks.Generator, fixedNoise, fixedLabels));
            }
            SaveCheckpoint(context, networks, random, epoch, step);
            context.ReportProgress(new TrainingProgress(epoch + 1, options.LastEpoch, step, totalSteps, count / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            LogEpoch(context.Logger, epoch + 1, options.LastEpoch, trained.MeanD, trained.MeanG);
        }

        context.SaveArtifact("samples.png", "image/png", Samples(networks.Generator, fixedNoise, fixedLabels));
        var evaluation = EvaluateFinal(data, networks.Generator, lastStep, clock, device);
        return PersistResult(context, networks, evaluation, lastStep);
    }

    private GanData Load(PunkDataset punks, PunkSplit split, Device device)
    {
        var trainIds = (options.TrainLimit > 0 ? split.Train.Take(options.TrainLimit) : split.Train).Select(i => (long)i).ToArray();
        var ids = tensor(trainIds);
        var images = punks.Tiles.index_select(0, ids).permute(0, 3, 1, 2).to(ScalarType.Float32).div(255f).to(device);
        var allLabels = LabelMatrix(punks.Traits);
        var labels = allLabels.index_select(0, ids).to(device);
        var judge = options.JudgeEpochs > 0 ? PunkJudge.For(punks, options.Seed, options.JudgeEpochs) : null;
        var judgeIds = tensor(split.Test.Take(options.JudgeSamples).Select(i => (long)i).ToArray());
        var judgeReal = PunkImageTensors.ToModelInput(punks.Tiles.index_select(0, judgeIds), PunkColorMode.Rgb);
        return new GanData(punks, split, trainIds, images, allLabels, labels, judge, judgeReal, allLabels.index_select(0, judgeIds));
    }

    private GanNetworks Build(Device device)
    {
        var conditionSize = options.Conditional ? PunkTraitTable.TraitCount : 0;
        var (generator, discriminator) = TorchRuntime.CreateSeeded(options.Seed, () =>
            (new PunkGenerator(conditionSize, options.ImageSize), new PunkDiscriminator(conditionSize, options.ImageSize, options.Conditioning)));
        generator.to(device);
        discriminator.to(device);
        return new GanNetworks(generator, discriminator,
            new Optimizers.Adam(generator.parameters(), options.LearningRate, options.Beta1, 0.999),
            new Optimizers.Adam(discriminator.parameters(), options.LearningRate, options.Beta1, 0.999));
    }

    /// <summary>The networks, optimisers and noise generator as the latest checkpoint left them; (0, 0) without one.</summary>
    private (int Epoch, long Step) Resume(TrainContext context, GanNetworks networks, Generator random)
    {
        if (context.LatestCheckpoint is not { } checkpoint)
        {
            return (0, 0);
        }
        CheckpointCodec.RequireCompatible(checkpoint, Kind, options.CheckpointIdentity());
        TorchState.Load(networks.Generator, checkpoint.Section(GeneratorSection), "generator");
        TorchState.Load(networks.Discriminator, checkpoint.Section(DiscriminatorSection), "discriminator");
        TorchState.Load(networks.GeneratorOptimizer, checkpoint.Section(GeneratorOptimizerSection));
        TorchState.Load(networks.DiscriminatorOptimizer, checkpoint.Section(DiscriminatorOptimizerSection));
        TorchState.Load(random, checkpoint.Section(TrainingCheckpoint.RngSection));
        return (checkpoint.Epoch, checkpoint.Step);
    }

    /// <summary>One pass over the training punks in whole batches: an adversarial step each, its losses and verdicts as metrics.</summary>
    private GanEpoch TrainEpoch(TrainContext context, GanData data, GanNetworks networks, Generator random,
        int epoch, long step, int stepsPerEpoch, long totalSteps, Stopwatch epochClock)
    {
        var device = data.Images.device;
        var metrics = new List<MetricSample>();
        using var order = randperm(data.TrainIds.Length, generator: random);
        double dSum = 0, gSum = 0, traitSum = 0;
        var last = (D: 0.0, G: 0.0, Real: 0.0, Fake: 0.0);
        for (var batch = 0; batch < stepsPerEpoch; batch++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var indices = order.narrow(0, batch * options.BatchSize, options.BatchSize).to(device);
            var real = Upscale(data.Images.index_select(0, indices), options.ImageSize);
            var condition = options.Conditional ? data.Labels.index_select(0, indices) : null;
            var noise = randn([options.BatchSize, PunkGenerator.Noise], generator: random).to(device);
            networks.Generator.train();
            networks.Discriminator.train();
            var result = AdversarialStep(networks.Generator, networks.Discriminator, networks.GeneratorOptimizer, networks.DiscriminatorOptimizer,
                real, noise, condition, options.RealLabel, options.AuxiliaryWeight);
            step++;
            if (result.GeneratorTraitLoss is { } traitLoss)
            {
                traitSum += traitLoss.item<float>();
            }
            last = (D: result.DiscriminatorLoss.item<float>(), G: result.GeneratorLoss.item<float>(),
                Real: result.RealLogits.sigmoid().mean().item<float>(), Fake: result.FakeLogits.sigmoid().mean().item<float>());
            (dSum, gSum) = (dSum + last.D, gSum + last.G);
            metrics.Add(new MetricSample("d_loss", epoch + 1, step, last.D));
            metrics.Add(new MetricSample("g_loss", epoch + 1, step, last.G));
            metrics.Add(new MetricSample("d_real", epoch + 1, step, last.Real));
            metrics.Add(new MetricSample("d_fake", epoch + 1, step, last.Fake));
            context.ReportProgress(new TrainingProgress(epoch, options.LastEpoch, step, totalSteps, (batch + 1) * options.BatchSize / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            if (step % MetricFlushSteps == 0)
            {
                context.ReportMetrics(metrics.ToArray());
                metrics.Clear();
            }
        }
        return new GanEpoch(dSum / stepsPerEpoch, gSum / stepsPerEpoch, traitSum / stepsPerEpoch, last, metrics);
    }

    /// <summary>The epoch's means and, with a judge, the generator's Punk-FID, spread and (conditional) how well it draws the asked traits.</summary>
    private void ReportEpoch(TrainContext context, GanData data, GanNetworks networks, GanEpoch trained, int epoch, long step, Stopwatch epochClock, Device device)
    {
        var metrics = trained.Pending;
        metrics.Add(new MetricSample("epoch_d_loss", epoch + 1, step, trained.MeanD));
        metrics.Add(new MetricSample("epoch_g_loss", epoch + 1, step, trained.MeanG));
        metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
        if (networks.Discriminator.PredictsTraits)
        {
            // How far the generated punks are from showing the asked traits, by the discriminator's own classifier.
            metrics.Add(new MetricSample("epoch_g_trait_loss", epoch + 1, step, trained.MeanTraitLoss));
        }
        if (data.Judge is { } judge)
        {
            var (fid, traits, spread) = Judge(judge, networks.Generator, data.JudgeReal, data.JudgeLabels, device);
            metrics.Add(new MetricSample("punk_fid", epoch + 1, step, fid));
            metrics.Add(new MetricSample("sample_spread", epoch + 1, step, spread));
            if (traits is { } t)
            {
                metrics.Add(new MetricSample("trait_agreement", epoch + 1, step, t.AllFound));
                metrics.Add(new MetricSample("asked_trait_recall", epoch + 1, step, t.Recall));
            }
        }
        context.ReportMetrics(metrics.ToArray());
    }

    private void SaveCheckpoint(TrainContext context, GanNetworks networks, Generator random, int epoch, long step) =>
        context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, null, options.CheckpointIdentity(),
            new Dictionary<string, byte[]>
            {
                [GeneratorSection] = TorchState.Save(networks.Generator),
                [DiscriminatorSection] = TorchState.Save(networks.Discriminator),
                [GeneratorOptimizerSection] = TorchState.Save(networks.GeneratorOptimizer),
                [DiscriminatorOptimizerSection] = TorchState.Save(networks.DiscriminatorOptimizer),
                [TrainingCheckpoint.RngSection] = TorchState.Save(random),
            }));

    /// <summary>The final generator judged against the held-out punks, beside the judge's own ceiling and the real-punk floor.</summary>
    private GanEvaluation EvaluateFinal(GanData data, PunkGenerator generator, (double D, double G, double Real, double Fake)? lastStep, Stopwatch clock, Device device)
    {
        var judge = data.Judge;
        var final = judge is null ? default((double Fid, TraitMatch? Traits, double Spread)?) : Judge(judge, generator, data.JudgeReal, data.JudgeLabels, device);
        // The ceiling for the conditional scores: the judge on the held-out real punks, asked for their own traits.
        var realTraits = judge is not null && options.Conditional ? judge.MatchTraits(data.JudgeReal, data.JudgeLabels) : (TraitMatch?)null;
        // The floor for Punk-FID at this sample size: the held-out punks against as many training punks.
        var floorIds = tensor(data.TrainIds.Take((int)data.JudgeReal.shape[0]).ToArray());
        double? fidReal = judge?.FrechetDistance(data.JudgeReal, PunkImageTensors.ToModelInput(data.Punks.Tiles.index_select(0, floorIds), PunkColorMode.Rgb));
        // A conditional GAN's punk_fid asks for the held-out punks' own trait sets, which a real-punk sample of other punks
        // does not share: it can go below the floor. Asked for the floor's training punks' trait sets instead, it is a
        // generator of punks in general, comparable with the floor and with a plain GAN's punk_fid.
        double? fidUnpaired = judge is not null && options.Conditional
            ? judge.FrechetDistance(data.JudgeReal, Draw(generator, data.AllLabels.index_select(0, floorIds), device))
            : null;
        return new GanEvaluation(options.Profile, options.Conditional, lastStep?.D, lastStep?.G, lastStep?.Real, lastStep?.Fake, data.TrainIds.Length, options.LastEpoch,
            options.BatchSize, options.Seed, device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), final?.Fid,
            final?.Traits?.AllFound, final?.Traits?.Recall, realTraits?.AllFound, realTraits?.Recall, final?.Spread, fidReal, judge?.TestAccuracy, judge?.TestRecall, judge?.TestPrecision,
            options.ImageSize, options.Conditional ? options.Conditioning : "none", options.RealLabel, options.AuxiliaryWeight, fidUnpaired);
    }

    private TrainingResult PersistResult(TrainContext context, GanNetworks networks, GanEvaluation evaluation, (double D, double G, double Real, double Fake)? lastStep)
    {
        var json = JsonSerializer.Serialize(evaluation, TraitTrainer.JsonOptions);
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", TorchState.Save(networks.Generator));
        context.SaveArtifact("discriminator.bin", "application/x-torchsharp-module", TorchState.Save(networks.Discriminator));
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
