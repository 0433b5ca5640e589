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

    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.ResolveDevice(context.Device);
        var data = PunkDataset.Load(dataDirectory);
        var split = PunkSplit.Create(data.Traits, options.Seed);
        var trainIds = Limit(split.Train, options.TrainLimit);
        var testIds = Limit(split.Test, options.TestLimit);

        using var scope = NewDisposeScope();
        var images = PunkImageTensors.ToModelInput(data.Tiles, PunkColorMode.Rgb);
        var train = images.index_select(0, tensor(trainIds.Select(i => (long)i).ToArray())).to(device);
        var test = images.index_select(0, tensor(testIds.Select(i => (long)i).ToArray())).to(device);
        images.Dispose();

        var judge = options.JudgeEpochs > 0 ? PunkJudge.For(data, options.Seed, options.JudgeEpochs) : null;
        var judgeReal = test.narrow(0, 0, Math.Min(options.JudgeSamples, test.shape[0])).cpu();

        using var model = TorchRuntime.CreateSeeded(options.Seed, () => new PunkVae(options.EncoderDropout, options.DecoderDropout));
        model.to(device);
        using var optimizer = optim.Adam(model.parameters(), options.LearningRate);
        using var generator = new Generator((ulong)options.Seed + 1);
        GeneratorDropout.UseGenerator(model, generator); // dropout masks are checkpointed with the rest

        var startEpoch = 0;
        long step = 0;
        if (context.LatestCheckpoint is { } checkpoint)
        {
            (startEpoch, step) = TorchState.Restore(checkpoint, Kind, options.CheckpointIdentity(), model, optimizer, generator);
        }

        var count = (int)train.shape[0];
        var stepsPerEpoch = (count + options.BatchSize - 1) / options.BatchSize;
        var totalSteps = (long)stepsPerEpoch * options.Epochs;
        var metrics = new List<MetricSample>();
        for (var epoch = startEpoch; epoch < options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            using var order = randperm(count, generator: generator);
            double lossSum = 0, mseSum = 0, klSum = 0;
            for (var batch = 0; batch < stepsPerEpoch; batch++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var start = batch * options.BatchSize;
                var indices = order.narrow(0, start, Math.Min(options.BatchSize, count - start)).to(device);
                var x = Upscale(train.index_select(0, indices));
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
                context.ReportProgress(new TrainingProgress(epoch, options.Epochs, step, totalSteps, (start + indices.shape[0]) / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
                if (step % MetricFlushSteps == 0)
                {
                    context.ReportMetrics(metrics.ToArray());
                    metrics.Clear();
                }
            }

            var (testMse, testKl) = Evaluate(model, test);
            metrics.Add(new MetricSample("epoch_train_loss", epoch + 1, step, lossSum / stepsPerEpoch));
            metrics.Add(new MetricSample("epoch_train_mse", epoch + 1, step, mseSum / stepsPerEpoch));
            metrics.Add(new MetricSample("epoch_train_kl", epoch + 1, step, klSum / stepsPerEpoch));
            metrics.Add(new MetricSample("test_mse", epoch + 1, step, testMse));
            metrics.Add(new MetricSample("test_kl", epoch + 1, step, testKl));
            metrics.Add(new MetricSample("test_loss", epoch + 1, step, testMse + (options.Beta * testKl)));
            metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
            if (judge is not null)
            {
                metrics.Add(new MetricSample("punk_fid", epoch + 1, step, SampleFid(judge, model, judgeReal, device)));
            }
            context.ReportMetrics(metrics.ToArray());
            metrics.Clear();
            context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, -(testMse + (options.Beta * testKl)), options.CheckpointIdentity(),
                TorchState.Sections(model, optimizer, generator)));
            context.ReportProgress(new TrainingProgress(epoch + 1, options.Epochs, step, totalSteps, count / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            LogEpoch(context.Logger, epoch + 1, options.Epochs, lossSum / stepsPerEpoch, testMse, testKl);
        }

        var (finalMse, finalKl) = Evaluate(model, test);
        SaveImages(context, model, test, device);
        double? fidSamples = judge is null ? null : SampleFid(judge, model, judgeReal, device);
        double? fidReconstructions = judge is null ? null : ReconstructionFid(judge, model, judgeReal, device);
        // The floor for Punk-FID at this sample size: the held-out punks against as many training punks.
        double? fidReal = judge?.FrechetDistance(judgeReal, train.narrow(0, 0, Math.Min(judgeReal.shape[0], train.shape[0])).cpu());
        var evaluation = new VaeEvaluation(options.Profile, finalMse, finalMse / (3 * PunkVae.ImageSize * PunkVae.ImageSize), finalKl,
            finalMse + (options.Beta * finalKl), options.Beta, count, (int)test.shape[0], options.Epochs, options.BatchSize, options.Seed,
            device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), fidSamples, fidReconstructions, fidReal, judge?.TestAccuracy, judge?.TestRecall, judge?.TestPrecision);
        var json = JsonSerializer.Serialize(evaluation, TraitTrainer.JsonOptions);
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", TorchState.Save(model));
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(json));
        return new TrainingResult(Kind, json, new Dictionary<string, double>
        {
            ["test_mse"] = finalMse,
            ["test_kl"] = finalKl,
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
