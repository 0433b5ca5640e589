using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Evaluation;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Trainers;

/// <summary>The held-out evaluation of one trait classifier: what <c>eval.json</c> holds.</summary>
public sealed record TraitEvaluation(
    string Trait,
    string Color,
    string Profile,
    string Architecture,
    double Accuracy,
    double Precision,
    double Recall,
    double F1,
    long TruePositives,
    long FalsePositives,
    long TrueNegatives,
    long FalseNegatives,
    int TestCount,
    int TestPositives,
    int TrainSamples,
    int Epochs,
    int BatchSize,
    int Seed,
    string Device,
    double Seconds,
    TraitJobPhases Phases,
    double Threshold,
    int ValidationCount,
    int ValidationPositives,
    double? ValidationF1,
    IReadOnlyList<int> FalseNegativeIds,
    IReadOnlyList<int> FalsePositiveIds);

/// <summary>
/// Where one trait job's wall time went, in seconds: loading the punks and building the training set, the
/// optimisation steps (forward, backward, AdaGrad), the seed's per-step monitoring samples, the held-out evaluations,
/// and handing metrics and checkpoints to the sink (the database on a worker).
/// </summary>
public sealed record TraitJobPhases(double Data, double Train, double Monitor, double Evaluate, double Persist)
{
    public static TraitJobPhases From(PhaseClock clock) => new(
        clock.Seconds("data"), clock.Seconds("train"), clock.Seconds("monitor"), clock.Seconds("evaluate"), clock.Seconds("persist"));
}

/// <summary>
/// Trains the seed's trait CNN for one of the 92 traits on a balanced, oversampled training set and evaluates it
/// on the held-out split. Checkpoints after every epoch (model, AdaGrad state, RNG state); resuming from one
/// continues exactly where it left off.
/// </summary>
public sealed partial class TraitTrainer(TraitTrainingOptions options, string dataDirectory) : ITrainer
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>
    /// Held-out samples per forward pass when evaluating. Small on purpose: at 500 the activations (34 MB for the
    /// first convolution) fall out of cache and an evaluation of 2,001 punks took 1.3 s on one core; at 50 it takes
    /// 0.25 s (docs/BENCHMARKS.md, "Where a trait job's time goes").
    /// </summary>
    private const int EvaluationChunk = 50;
    private const int MetricFlushSteps = 50;

    public string Kind => TraitTrainingOptions.Kind;

    public TraitTrainingOptions Options => options;

    /// <summary>The job's data, split and moved to the device once: the balanced training set, the held-out test split and the validation split carved from training.</summary>
    private sealed record TraitData(
        PunkDataset Punks, string Trait, PunkSplit Split, bool[] Labels, IReadOnlyDictionary<string, string> Identity, TraitValidationSplit Carved,
        BalancedTraitSet TrainingSet, Tensor TrainInputs, Tensor TrainLabels, Tensor TestInputs, Tensor TestLabels,
        Tensor ValidationInputs, Tensor ValidationLabels, long[] TestActual, long[] ValidationActual) : IDisposable
    {
        public int SampleCount => (int)TrainingSet.Count;

        public void Dispose() => TrainingSet.Dispose();
    }

    /// <summary>What one epoch's held-out evaluation found.</summary>
    private sealed record EpochEvaluation(float[] TestScores, float[]? ValidationScores, double TestLoss, BinaryConfusion Confusion);

    /// <summary>The final model's evaluation: the decision threshold, the test split's confusion at it, and the punks it gets wrong.</summary>
    private sealed record FinalEvaluation(double Threshold, double? ValidationF1, BinaryConfusion Confusion, TraitErrors Errors);

    /// <summary>Load, build, resume; then per epoch: train, evaluate, persist; then the final evaluation and its artifacts.</summary>
    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var phases = new PhaseClock();
        var device = TorchRuntime.ResolveDevice(context.Device);
        phases.Start("data");
        var punks = PunkDataset.Load(dataDirectory); // cached for the process: loaded outside this job's dispose scope
        using var scope = NewDisposeScope();
        using var data = Load(punks, device);
        phases.Stop();

        using var model = TorchRuntime.CreateSeeded(options.Seed, () => new TraitCnn(PunkImageTensors.Channels(options.Color), options.Architecture));
        model.to(device);
        using var optimizer = BuildOptimizer(model);
        using var generator = new Generator((ulong)options.Seed + 1);
        var (startEpoch, step) = (0, 0L);
        if (context.LatestCheckpoint is { } checkpoint)
        {
            (startEpoch, step) = TorchState.Restore(checkpoint, Kind, data.Identity, model, optimizer, generator);
            LogResuming(context.Logger, data.Trait, startEpoch, step);
        }

        // The schedule spans every epoch; a job told to stop after an earlier one ends there (a search's rung).
        var totalSteps = (long)StepsPerEpoch(data) * options.Epochs;
        var lastEpoch = options.LastEpoch;
        var metrics = new List<MetricSample>();
        EpochEvaluation? latest = null; // the latest model's, once evaluated
        context.ReportProgress(new TrainingProgress(startEpoch, lastEpoch, step, (long)StepsPerEpoch(data) * lastEpoch, 0));
        for (var epoch = startEpoch; epoch < lastEpoch; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            step = TrainEpoch(context, data, model, optimizer, generator, phases, metrics, epoch, step, totalSteps, epochClock);
            phases.Start("evaluate");
            latest = EvaluateEpoch(data, model, metrics, epoch, step);
            phases.Start("persist");
            var seconds = epochClock.Elapsed.TotalSeconds;
            var samplesPerSecond = data.SampleCount / Math.Max(seconds, 1e-9);
            PersistEpoch(context, data, model, optimizer, generator, metrics, epoch, step, latest, seconds, samplesPerSecond);
            phases.Stop();
            context.ReportProgress(new TrainingProgress(epoch + 1, lastEpoch, step, (long)StepsPerEpoch(data) * lastEpoch, samplesPerSecond));
            LogEpoch(context.Logger, data.Trait, epoch + 1, options.Epochs, latest.TestLoss, latest.Confusion.Accuracy, latest.Confusion.F1, seconds, samplesPerSecond);
        }

        phases.Start("evaluate");
        var final = EvaluateFinal(data, model, latest);
        phases.Stop();
        return PersistResult(context, data, model, final, device, clock, phases);
    }

    private TraitData Load(PunkDataset punks, Device device)
    {
        var traitIndex = punks.Traits.IndexOf(options.Trait);
        var trait = punks.Traits.TraitNames[traitIndex];
        var split = PunkSplit.Create(punks.Traits, options.Seed);
        var labels = punks.Traits.LabelsOf(traitIndex);
        var carved = TraitValidationSplit.Carve(split.Train, labels, options.ValidationFraction, options.Seed + 2);
        var images = punks.ModelInputs(options.Color); // shared by the process's jobs: not ours to dispose
        using var dataGenerator = new Generator((ulong)options.Seed);
        var trainingSet = BalancedTraitSet.Build(images, labels, carved.Train, options.TrainSamples, dataGenerator, trait);
        Tensor Rows(IEnumerable<int> ids) => images.index_select(0, tensor(ids.Select(i => (long)i).ToArray())).to(device);
        long[] Actual(IEnumerable<int> ids) => ids.Select(i => labels[i] ? 1L : 0L).ToArray();
        var (testActual, validationActual) = (Actual(split.Test), Actual(carved.Validation));
        return new TraitData(punks, trait, split, labels, options.CheckpointIdentity(trait), carved, trainingSet,
            trainingSet.Inputs.to(device), trainingSet.Labels.to(device),
            Rows(split.Test), tensor(testActual).to(device), Rows(carved.Validation), tensor(validationActual).to(device),
            testActual, validationActual);
    }

    private TorchSharp.Modules.OptimizerHelper BuildOptimizer(TraitCnn model) => options.Optimizer == "adam"
        ? new Optimizers.Adam(model.parameters(), options.LearningRate, eps: options.Eps, weight_decay: options.WeightDecay)
        : new Optimizers.Adagrad(model.parameters(), options.LearningRate, options.LearningRateDecay,
            options.WeightDecay, options.InitialAccumulatorValue, options.Eps);

    private int StepsPerEpoch(TraitData data) => (data.SampleCount + options.BatchSize - 1) / options.BatchSize;

    /// <summary>One pass over the balanced set in a random order: a step per batch, the seed's monitoring samples, metrics flushed every <see cref="MetricFlushSteps"/>.</summary>
    private long TrainEpoch(TrainContext context, TraitData data, TraitCnn model, TorchSharp.Modules.OptimizerHelper optimizer, Generator generator,
        PhaseClock phases, List<MetricSample> metrics, int epoch, long step, long totalSteps, Stopwatch epochClock)
    {
        var sampleCount = data.SampleCount;
        using var order = randperm(sampleCount, generator: generator);
        for (var batch = 0; batch < StepsPerEpoch(data); batch++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var start = batch * options.BatchSize;
            var indices = order.narrow(0, start, Math.Min(options.BatchSize, sampleCount - start)).to(data.TrainInputs.device);

            phases.Start("train");
            if (options.LearningRateSchedule == "cosine")
            {
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
                }
            }
            model.train();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(data.TrainInputs.index_select(0, indices)), data.TrainLabels.index_select(0, indices));
            loss.backward();
            optimizer.step();
            step++;
            metrics.Add(new MetricSample("train_loss", epoch + 1, step, loss.item<float>()));
            phases.Stop();

            if (options.MonitorSamples > 0)
            {
                phases.Start("monitor");
                Monitor(data, model, generator, metrics, epoch, step);
                phases.Stop();
            }

            context.ReportProgress(new TrainingProgress(epoch, options.LastEpoch, step, (long)StepsPerEpoch(data) * options.LastEpoch,
                (batch + 1) * options.BatchSize / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
            if (step % MetricFlushSteps == 0)
            {
                phases.Start("persist");
                Flush(context, metrics);
                phases.Stop();
            }
        }
        return step;
    }

    /// <summary>The seed's per-step check: loss and accuracy on random samples in and out of the training set.</summary>
    private void Monitor(TraitData data, TraitCnn model, Generator generator, List<MetricSample> metrics, int epoch, long step)
    {
        var device = data.TrainInputs.device;
        var inSample = randint(data.SampleCount, [options.MonitorSamples], generator: generator).to(device);
        var outSample = randint(data.TestLabels.shape[0], [options.MonitorSamples], generator: generator).to(device);
        var (inLoss, inAccuracy, outLoss, outAccuracy) = ScoreMonitorSamples(model,
            data.TrainInputs.index_select(0, inSample), data.TrainLabels.index_select(0, inSample),
            data.TestInputs.index_select(0, outSample), data.TestLabels.index_select(0, outSample));
        metrics.Add(new MetricSample("in_sample_loss", epoch + 1, step, inLoss));
        metrics.Add(new MetricSample("in_sample_accuracy", epoch + 1, step, inAccuracy));
        metrics.Add(new MetricSample("out_sample_loss", epoch + 1, step, outLoss));
        metrics.Add(new MetricSample("out_sample_accuracy", epoch + 1, step, outAccuracy));
    }

    /// <summary>The test split at the 0.5 threshold, and the best F1 the validation split allows (when there is one).</summary>
    private static EpochEvaluation EvaluateEpoch(TraitData data, TraitCnn model, List<MetricSample> metrics, int epoch, long step)
    {
        var (testScores, testLoss) = Score(model, data.TestInputs, data.TestLabels);
        var confusion = DecisionThreshold.Confusion(testScores, data.TestActual, 0.5);
        float[]? validationScores = null;
        if (data.Carved.Validation.Length > 0)
        {
            (validationScores, _) = Score(model, data.ValidationInputs, data.ValidationLabels);
            metrics.Add(new MetricSample("validation_f1", epoch + 1, step, DecisionThreshold.BestF1(validationScores, data.ValidationActual).F1));
        }
        return new EpochEvaluation(testScores, validationScores, testLoss, confusion);
    }

    /// <summary>The epoch's metrics, then its checkpoint (weights, optimiser and generator state; scored by test F1).</summary>
    private void PersistEpoch(TrainContext context, TraitData data, TraitCnn model, TorchSharp.Modules.OptimizerHelper optimizer, Generator generator,
        List<MetricSample> metrics, int epoch, long step, EpochEvaluation evaluation, double seconds, double samplesPerSecond)
    {
        metrics.Add(new MetricSample("test_loss", epoch + 1, step, evaluation.TestLoss));
        metrics.Add(new MetricSample("test_accuracy", epoch + 1, step, evaluation.Confusion.Accuracy));
        metrics.Add(new MetricSample("test_f1", epoch + 1, step, evaluation.Confusion.F1));
        metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, seconds));
        metrics.Add(new MetricSample("samples_per_second", epoch + 1, step, samplesPerSecond));
        Flush(context, metrics);
        context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, evaluation.Confusion.F1, data.Identity,
            TorchState.Sections(model, optimizer, generator)));
    }

    /// <summary>
    /// The final model is the last epoch's: its scores are reused (computed here only when this attempt resumed from the
    /// last epoch's checkpoint and trained nothing). The threshold is 0.5, or the best on the validation split.
    /// </summary>
    private FinalEvaluation EvaluateFinal(TraitData data, TraitCnn model, EpochEvaluation? latest)
    {
        var threshold = 0.5;
        double? chosenF1 = null;
        if (options.Threshold == "validation")
        {
            var validationScores = latest?.ValidationScores ?? Score(model, data.ValidationInputs, data.ValidationLabels).Scores;
            (threshold, var f1) = DecisionThreshold.BestF1(validationScores, data.ValidationActual);
            chosenF1 = f1;
        }
        var testScores = latest?.TestScores ?? Score(model, data.TestInputs, data.TestLabels).Scores;
        return new FinalEvaluation(threshold, chosenF1, DecisionThreshold.Confusion(testScores, data.TestActual, threshold),
            TraitErrors.Find(data.Split.Test, testScores, data.TestActual, threshold));
    }

    /// <summary><c>eval.json</c>, <c>model.bin</c> and the pictures of the model's errors; the result the worker reports.</summary>
    private TrainingResult PersistResult(TrainContext context, TraitData data, TraitCnn model, FinalEvaluation final, Device device, Stopwatch clock, PhaseClock phases)
    {
        var (confusion, errors) = (final.Confusion, final.Errors);
        var evaluation = new TraitEvaluation(
            data.Trait, options.Color.ToString().ToLowerInvariant(), options.Profile, options.Architecture.Name(),
            confusion.Accuracy, confusion.Precision, confusion.Recall, confusion.F1,
            confusion.TruePositives, confusion.FalsePositives, confusion.TrueNegatives, confusion.FalseNegatives,
            data.Split.Test.Count, data.Split.Test.Count(i => data.Labels[i]), options.TrainSamples, options.LastEpoch, options.BatchSize,
            options.Seed, device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), TraitJobPhases.From(phases),
            final.Threshold, data.Carved.Validation.Length, data.Carved.Validation.Count(i => data.Labels[i]), final.ValidationF1,
            errors.FalseNegativeIds, errors.FalsePositiveIds);
        var json = JsonSerializer.Serialize(evaluation, JsonOptions);
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", TorchState.Save(model));
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(json));
        foreach (var (name, ids) in new[] { ("false-negatives.png", errors.FalseNegativeIds), ("false-positives.png", errors.FalsePositiveIds) })
        {
            if (TraitErrors.Picture(data.Punks.Tiles, ids) is { } png)
            {
                context.SaveArtifact(name, "image/png", png);
            }
        }
        return new TrainingResult(Kind, json, new Dictionary<string, double>
        {
            ["accuracy"] = confusion.Accuracy,
            ["precision"] = confusion.Precision,
            ["recall"] = confusion.Recall,
            ["f1"] = confusion.F1,
        });
    }

    private static void Flush(TrainContext context, List<MetricSample> metrics)
    {
        context.ReportMetrics(metrics.ToArray());
        metrics.Clear();
    }

    /// <summary>
    /// Loss and accuracy of the seed's monitoring samples, in and out of the training set, from one forward pass over
    /// both (the model has no batch statistics, so each sample's logits are what two passes would give, at about
    /// half the per-call cost of two passes of 10).
    /// </summary>
    private static (double InLoss, double InAccuracy, double OutLoss, double OutAccuracy) ScoreMonitorSamples(
        TraitCnn model, Tensor inInputs, Tensor inLabels, Tensor outInputs, Tensor outLabels)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var inCount = inInputs.shape[0];
        var logits = model.forward(cat([inInputs, outInputs]));
        var (inLoss, inAccuracy) = LossAndAccuracy(logits.narrow(0, 0, inCount), inLabels);
        var (outLoss, outAccuracy) = LossAndAccuracy(logits.narrow(0, inCount, outInputs.shape[0]), outLabels);
        return (inLoss, inAccuracy, outLoss, outAccuracy);
    }

    private static (double Loss, double Accuracy) LossAndAccuracy(Tensor logits, Tensor labels)
    {
        var loss = nn.functional.cross_entropy(logits, labels).item<float>();
        var accuracy = logits.argmax(1).eq(labels).to(ScalarType.Float32).mean().item<float>();
        return (loss, accuracy);
    }

    /// <summary>
    /// Predicts the whole held-out split in chunks; returns the confusion counts at <paramref name="threshold"/> (on the
    /// probability of the trait; 0.5 is the softmax's own call) and the mean loss.
    /// </summary>
    public static (BinaryConfusion Confusion, double Loss) Evaluate(TraitCnn model, Tensor inputs, Tensor labels, double threshold = 0.5)
    {
        var (scores, loss) = Score(model, inputs, labels);
        return (DecisionThreshold.Confusion(scores, labels.cpu().data<long>().ToArray(), threshold), loss);
    }

    /// <summary>Every sample's probability of the trait, predicted in chunks, and the mean loss.</summary>
    private static (float[] Scores, double Loss) Score(TraitCnn model, Tensor inputs, Tensor labels)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var n = inputs.shape[0];
        var scores = new List<Tensor>();
        var lossSum = 0.0;
        for (long start = 0; start < n; start += EvaluationChunk)
        {
            var length = Math.Min(EvaluationChunk, n - start);
            var logits = model.forward(inputs.narrow(0, start, length));
            lossSum += nn.functional.cross_entropy(logits, labels.narrow(0, start, length), reduction: nn.Reduction.Sum).item<float>();
            scores.Add(nn.functional.softmax(logits, 1).select(1, 1));
        }
        var all = n == 0 ? Array.Empty<float>() : cat(scores).cpu().data<float>().ToArray();
        return (all, lossSum / Math.Max(n, 1));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming trait {Trait} from epoch {Epoch}, step {Step}")]
    private static partial void LogResuming(ILogger logger, string trait, int epoch, long step);

    [LoggerMessage(Level = LogLevel.Information, Message = "Trait {Trait} epoch {Epoch}/{Epochs}: test loss {Loss:F4}, accuracy {Accuracy:F4}, F1 {F1:F4} ({Seconds:F1}s, {Rate:F0} samples/s)")]
    private static partial void LogEpoch(ILogger logger, string trait, int epoch, int epochs, double loss, double accuracy, double f1, double seconds, double rate);
}
