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

/// <summary>The held-out evaluation of a PunkVAE: what its <c>eval.json</c> holds.</summary>
public sealed record VaeEvaluation(
    string Profile,
    double TestMse,
    double TestPixelMse,
    double TestKl,
    double TestLoss,
    double Beta,
    int TrainCount,
    int TestCount,
    int Epochs,
    int BatchSize,
    int Seed,
    string Device,
    double Seconds,
    double? PunkFidSamples,
    double? PunkFidReconstructions,
    double? PunkFidReal,
    double? JudgeTestAccuracy,
    double? JudgeTestRecall,
    double? JudgeTestPrecision);

/// <summary>
/// Trains the seed's PunkVAE on the punks (24x24 composited onto the fixed background, upscaled nearest-neighbour to
/// 128x128 batch by batch), loss = per-image summed MSE + β·KL. Stores per-step and per-epoch losses, a checkpoint
/// per epoch, and as artifacts: a reconstruction grid (test originals above their reconstructions), samples from the
/// prior, and a latent interpolation strip between two test punks.
/// </summary>
public sealed partial class VaeTrainer(VaeTrainingOptions options, string dataDirectory) : ITrainer
{
    private const int MetricFlushSteps = 20;

    public string Kind => VaeTrainingOptions.Kind;

    public static Tensor Upscale(Tensor tiles24) =>
        nn.functional.interpolate(tiles24, [PunkVae.ImageSize, PunkVae.ImageSize], mode: InterpolationMode.Nearest);

    /// <summary>The training and held-out punks as 24x24 RGB on the device, and what the judge compares samples with.</summary>
    private sealed record VaeData(Tensor Train, Tensor Test, PunkJudge? Judge, Tensor JudgeReal)
    {
        public int Count => (int)Train.shape[0];
    }

    /// <summary>One epoch's mean training losses and the step metrics not yet reported (they go with the epoch's).</summary>
    private sealed record VaeEpoch(double MeanLoss, double MeanMse, double MeanKl, List<MetricSample> Pending);

    /// <summary>Load, build, resume; then per epoch: train, evaluate, persist; then the final evaluation, images and the model.</summary>
    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.ResolveDevice(context.Device);
        var punks = PunkDataset.Load(dataDirectory);
        using var scope = NewDisposeScope();
        var data = Load(punks, device);

        using var model = TorchRuntime.CreateSeeded(options.Seed, () => new PunkVae(options.EncoderDropout, options.DecoderDropout));
        model.to(device);
        using var optimizer = new Optimizers.Adam(model.parameters(), options.LearningRate);
        using var generator = new Generator((ulong)options.Seed + 1);
        GeneratorDropout.UseGenerator(model, generator); // dropout masks are checkpointed with the rest
        var (startEpoch, step) = context.LatestCheckpoint is { } checkpoint
            ? TorchState.Restore(checkpoint, Kind, options.CheckpointIdentity(), model, optimizer, generator)
            : (0, 0L);

        var stepsPerEpoch = (data.Count + options.BatchSize - 1) / options.BatchSize;
        var totalSteps = (long)stepsPerEpoch * options.LastEpoch;
        for (var epoch = startEpoch; epoch < options.LastEpoch; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            var trained = TrainEpoch(context, data, model, optimizer, generator, epoch, step, stepsPerEpoch, totalSteps, epochClock);
            step += stepsPerEpoch;
            var (testMse, testKl) = Evaluate(model, data.Test);
            ReportEpoch(context, data, model, trained, testMse, testKl, epoch, step, epochClock, device);
            context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, -(testMse + (options.Beta * testKl)), options.CheckpointIdentity(),
                TorchState.Sections(model, optimizer, generator)));
            context.ReportProgress(new TrainingProgress(epoch + 1, options.LastEpoch, step, totalSteps, data.Count / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            LogEpoch(context.Logger, epoch + 1, options.LastEpoch, trained.MeanLoss, testMse, testKl);
        }

        var evaluation = EvaluateFinal(context, data, model, clock, device);
        return PersistResult(context, model, evaluation);
    }

    private VaeData Load(PunkDataset punks, Device device)
    {
        var split = PunkSplit.Create(punks.Traits, options.Seed);
        var trainIds = Limit(split.Train, options.TrainLimit);
        var testIds = Limit(split.Test, options.TestLimit);
        var images = PunkImageTensors.ToModelInput(punks.Tiles, PunkColorMode.Rgb);
        var train = images.index_select(0, tensor(trainIds.Select(i => (long)i).ToArray())).to(device);
        var test = images.index_select(0, tensor(testIds.Select(i => (long)i).ToArray())).to(device);
        images.Dispose();
        var judge = options.JudgeEpochs > 0 ? PunkJudge.For(punks, options.Seed, options.JudgeEpochs) : null;
        return new VaeData(train, test, judge, test.narrow(0, 0, Math.Min(options.JudgeSamples, test.shape[0])).cpu());
    }

    /// <summary>One pass over the training punks: a reparameterised step per batch, its losses as metrics.</summary>
    private VaeEpoch TrainEpoch(TrainContext context, VaeData data, PunkVae model, TorchSharp.Modules.Adam optimizer, Generator generator,
        int epoch, long step, int stepsPerEpoch, long totalSteps, Stopwatch epochClock)
    {
        var (count, device) = (data.Count, data.Train.device);
        var metrics = new List<MetricSample>();
        using var order = randperm(count, generator: generator);
        double lossSum = 0, mseSum = 0, klSum = 0;
        for (var batch = 0; batch < stepsPerEpoch; batch++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var start = batch * options.BatchSize;
            var indices = order.narrow(0, start, Math.Min(options.BatchSize, count - start)).to(device);
            var x = Upscale(data.Train.index_select(0, indices));
            model.train();
            optimizer.zero_grad();
            // The reparameterisation noise comes from the checkpointed generator, so a resumed run draws the same.
            var (mean, logVariance) = model.Encode(x);
            var noise = randn(mean.shape, generator: generator).to(device);
            var reconstruction = model.Decode(mean + (noise * (logVariance * 0.5).exp()));
            var (mse, kl) = PunkVae.Losses(reconstruction, x, mean, logVariance);
            var loss = mse + (kl * options.Beta);
            loss.backward();
            optimizer.step();
            step++;
            var (l, m, k) = (loss.item<float>(), mse.item<float>(), kl.item<float>());
            (lossSum, mseSum, klSum) = (lossSum + l, mseSum + m, klSum + k);
            metrics.Add(new MetricSample("train_loss", epoch + 1, step, l));
            metrics.Add(new MetricSample("train_mse", epoch + 1, step, m));
            metrics.Add(new MetricSample("train_kl", epoch + 1, step, k));
            context.ReportProgress(new TrainingProgress(epoch, options.LastEpoch, step, totalSteps, (start + indices.shape[0]) / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            if (step % MetricFlushSteps == 0)
            {
                context.ReportMetrics(metrics.ToArray());
                metrics.Clear();
            }
        }
        return new VaeEpoch(lossSum / stepsPerEpoch, mseSum / stepsPerEpoch, klSum / stepsPerEpoch, metrics);
    }

    /// <summary>The epoch's means, the held-out losses and, with a judge, the prior samples' Punk-FID.</summary>
    private void ReportEpoch(TrainContext context, VaeData data, PunkVae model, VaeEpoch trained, double testMse, double testKl,
        int epoch, long step, Stopwatch epochClock, Device device)
    {
        var metrics = trained.Pending;
        metrics.Add(new MetricSample("epoch_train_loss", epoch + 1, step, trained.MeanLoss));
        metrics.Add(new MetricSample("epoch_train_mse", epoch + 1, step, trained.MeanMse));
        metrics.Add(new MetricSample("epoch_train_kl", epoch + 1, step, trained.MeanKl));
        metrics.Add(new MetricSample("test_mse", epoch + 1, step, testMse));
        metrics.Add(new MetricSample("test_kl", epoch + 1, step, testKl));
        metrics.Add(new MetricSample("test_loss", epoch + 1, step, testMse + (options.Beta * testKl)));
        metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
        if (data.Judge is { } judge)
        {
            metrics.Add(new MetricSample("punk_fid", epoch + 1, step, SampleFid(judge, model, data.JudgeReal, device)));
        }
        context.ReportMetrics(metrics.ToArray());
    }

    /// <summary>The final model on the held-out punks, its images, and its samples' and reconstructions' Punk-FID beside the real-punk floor.</summary>
    private VaeEvaluation EvaluateFinal(TrainContext context, VaeData data, PunkVae model, Stopwatch clock, Device device)
    {
        var (finalMse, finalKl) = Evaluate(model, data.Test);
        SaveImages(context, model, data.Test, device);
        var judge = data.Judge;
        double? fidSamples = judge is null ? null : SampleFid(judge, model, data.JudgeReal, device);
        double? fidReconstructions = judge is null ? null : ReconstructionFid(judge, model, data.JudgeReal, device);
        // The floor for Punk-FID at this sample size: the held-out punks against as many training punks.
        double? fidReal = judge?.FrechetDistance(data.JudgeReal, data.Train.narrow(0, 0, Math.Min(data.JudgeReal.shape[0], data.Train.shape[0])).cpu());
        return new VaeEvaluation(options.Profile, finalMse, finalMse / (3 * PunkVae.ImageSize * PunkVae.ImageSize), finalKl,
            finalMse + (options.Beta * finalKl), options.Beta, data.Count, (int)data.Test.shape[0], options.LastEpoch, options.BatchSize, options.Seed,
            device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), fidSamples, fidReconstructions, fidReal, judge?.TestAccuracy, judge?.TestRecall, judge?.TestPrecision);
    }

    private TrainingResult PersistResult(TrainContext context, PunkVae model, VaeEvaluation evaluation)
    {
        var json = JsonSerializer.Serialize(evaluation, TraitTrainer.JsonOptions);
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", TorchState.Save(model));
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(json));
        return new TrainingResult(Kind, json, new Dictionary<string, double>
        {
            ["test_mse"] = evaluation.TestMse,
            ["test_kl"] = evaluation.TestKl,
            ["test_loss"] = evaluation.TestLoss,
        });
    }

    /// <summary>Punk-FID of samples from the prior against held-out punks (24x24, as the judge sees them).</summary>
    private double SampleFid(PunkJudge judge, PunkVae model, Tensor real, Device device)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var sampler = new Generator((ulong)options.Seed + 13);
        var samples = model.Decode(randn([real.shape[0], PunkVae.Latent], generator: sampler).to(device));
        return judge.FrechetDistance(real, PunkJudge.ToJudgeInput(samples));
    }

    /// <summary>Punk-FID of the held-out punks' reconstructions against the punks themselves.</summary>
    private static double ReconstructionFid(PunkJudge judge, PunkVae model, Tensor real, Device device)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var reconstructions = new List<Tensor>();
        for (long start = 0; start < real.shape[0]; start += 128)
        {
            var batch = Upscale(real.narrow(0, start, Math.Min(128, real.shape[0] - start)).to(device));
            reconstructions.Add(PunkJudge.ToJudgeInput(model.forward(batch).Reconstruction));
        }
        return judge.FrechetDistance(real, cat(reconstructions));
    }

    private static int[] Limit(IReadOnlyList<int> ids, int limit) => limit > 0 ? ids.Take(limit).ToArray() : ids.ToArray();

    /// <summary>Mean per-image summed MSE and KL on the held-out punks, in eval mode (no dropout, latent = mean).</summary>
    public static (double Mse, double Kl) Evaluate(PunkVae model, Tensor test)
    {
        model.eval();
        using var noGrad = no_grad();
        double mse = 0, kl = 0;
        var n = test.shape[0];
        for (long start = 0; start < n; start += 128)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(128, n - start);
            var x = Upscale(test.narrow(0, start, length));
            var (reconstruction, mean, logVariance) = model.forward(x);
            var (m, k) = PunkVae.Losses(reconstruction, x, mean, logVariance);
            mse += m.item<float>() * length;
            kl += k.item<float>() * length;
        }
        return (mse / n, kl / n);
    }

    private void SaveImages(TrainContext context, PunkVae model, Tensor test, Device device)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var originals = Upscale(test.narrow(0, 0, Math.Min(8, test.shape[0])));
        var (reconstructions, means, _) = model.forward(originals);
        context.SaveArtifact("reconstructions.png", "image/png", ImageGrid.ToPng(cat([originals, reconstructions]), columns: (int)originals.shape[0]));

        using var sampler = new Generator((ulong)options.Seed + 7);
        var prior = randn([16, PunkVae.Latent], generator: sampler).to(device);
        context.SaveArtifact("samples.png", "image/png", ImageGrid.ToPng(model.Decode(prior), columns: 8));

        if (means.shape[0] >= 2)
        {
            var weights = linspace(0, 1, 10).to(device).view(-1, 1);
            var path = (means[0].unsqueeze(0) * (1 - weights)) + (means[1].unsqueeze(0) * weights);
            context.SaveArtifact("interpolation.png", "image/png", ImageGrid.ToPng(model.Decode(path), columns: 10));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VAE epoch {Epoch}/{Epochs}: train loss {Loss:F1}, test MSE {Mse:F2}, test KL {Kl:F2}")]
    private static partial void LogEpoch(ILogger logger, int epoch, int epochs, double loss, double mse, double kl);
}
