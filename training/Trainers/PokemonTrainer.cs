using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Trains a Pokémon classifier: MobileNetV3-Small from scratch, or the ImageNet ResNet-18 (a classifier on its frozen
/// features computed once, its last stage and classifier on the earlier stages' output computed once, or the whole
/// network); duplicate-aware stratified split, augmentation on the training images only (random horizontal flip, random
/// crop after 1/8 padding; with the last stage fine-tuned: the mirror image's activations and a random shift of one
/// activation cell; none on frozen features), cross-entropy, Adam with the learning rate ×0.9 per epoch (the pretrained
/// layers at their own rate), the best weights on the validation split kept and evaluated on the test split.
/// </summary>
/// <param name="activations">Where the frozen backbone's activations are kept between jobs on this machine (null: computed by every job).</param>
public sealed partial class PokemonTrainer(PokemonTrainingOptions options, string dataDirectory, ActivationCache? activations = null) : ITrainer
{
    private const string BestModelSection = "best_model";

    public string Kind => PokemonTrainingOptions.Kind;

    /// <summary>The decoded images, their class labels, the duplicate-aware (or naive) split, and how long decoding took.</summary>
    private sealed record PokemonData(PokemonDataset Dataset, long[] Labels, PokemonSplit Split,
        IReadOnlyList<int> TrainIds, IReadOnlyList<int> ValidationIds, IReadOnlyList<int> TestIds, double LoadSeconds);

    /// <summary>
    /// The network, what the optimizer trains and checkpoints (all of it, or the part after a frozen prefix), and how a batch
    /// of inputs becomes logits: images, or a frozen prefix's output.
    /// </summary>
    private sealed record PokemonNetwork(nn.Module<Tensor, Tensor> Model, ResNet18? ResNet, string FineTune, nn.Module Trainable, Func<Tensor, Tensor> LogitsOf)
        : IDisposable
    {
        public void Dispose() => Model.Dispose();
    }

    /// <summary>What the trained part sees, per split, on the device; the training images' mirror images' activations (last-stage).</summary>
    private sealed record PokemonInputs(Tensor TrainX, Tensor TrainY, Tensor ValidationX, Tensor ValidationY, Tensor TestX, Tensor TestY,
        Tensor? MirroredTrainX, double FrozenPassSeconds);

    /// <summary>The best weights on the validation split so far.</summary>
    private sealed record BestModel(double Accuracy, int Epoch, byte[]? Weights);

    /// <summary>Load, build, precompute a frozen prefix, resume; then per epoch: train, validate, persist; then the best weights on the test split.</summary>
    public TrainingResult Train(TrainContext context)
    {
        TorchRuntime.EnsureInitialized(context.Logger);
        var clock = Stopwatch.StartNew();
        var device = TorchRuntime.ResolveDevice(context.Device);
        var data = Load(clock);

        using var scope = NewDisposeScope();
        using var network = Build(data, device);
        var inputs = PrepareInputs(context, data, network, device);
        var rates = LearningRates(network);
        using var optimizer = new Optimizers.Adam(rates.Select(r => new Optimizers.Adam.ParamGroup(r.Parameters, lr: r.Rate)).ToList(), options.LearningRate);
        using var generator = new Generator((ulong)options.Seed + 1);
        GeneratorDropout.UseGenerator(network.Model, generator); // dropout masks are checkpointed with the rest
        var (startEpoch, step, best) = Resume(context, network, optimizer, generator);

        var count = (int)inputs.TrainX.shape[0];
        var stepsPerEpoch = (count + options.BatchSize - 1) / options.BatchSize;
        var totalSteps = (long)stepsPerEpoch * options.LastEpoch;
        for (var epoch = startEpoch; epoch < options.LastEpoch; epoch++)
        {
            var decay = Math.Pow(options.LearningRateDecay, epoch);
            foreach (var (group, index) in optimizer.ParamGroups.Select((g, i) => (g, i)))
            {
                group.LearningRate = rates[index].Rate * decay;
            }
            var epochClock = Stopwatch.StartNew();
            var metrics = new List<MetricSample>();
            var meanLoss = TrainEpoch(context, network, inputs, optimizer, generator, metrics, epoch, step, stepsPerEpoch, totalSteps, epochClock);
            step += stepsPerEpoch;
            var (validationTop1, _, validationLoss, _) = Evaluate(network.Trainable, network.LogitsOf, inputs.ValidationX, inputs.ValidationY, data.Dataset.Classes.Count);
            if (validationTop1 > best.Accuracy)
            {
                best = new BestModel(validationTop1, epoch + 1, TorchState.Save(network.Trainable));
            }
            metrics.Add(new MetricSample("epoch_train_loss", epoch + 1, step, meanLoss));
            metrics.Add(new MetricSample("validation_accuracy", epoch + 1, step, validationTop1));
            metrics.Add(new MetricSample("validation_loss", epoch + 1, step, validationLoss));
            metrics.Add(new MetricSample("learning_rate", epoch + 1, step, options.LearningRate * decay));
            metrics.Add(new MetricSample("epoch_seconds", epoch + 1, step, epochClock.Elapsed.TotalSeconds));
            context.ReportMetrics(metrics);
            SaveCheckpoint(context, network, optimizer, generator, best, epoch, step, validationTop1);
            LogEpoch(context.Logger, epoch + 1, options.LastEpoch, meanLoss, validationTop1);
        }

        TorchState.Load(network.Trainable, best.Weights!);
        var names = data.Dataset.Classes.Select(c => data.Dataset.Images.First(i => i.PokedexNumber == c).ClassName).ToList();
        var evaluation = EvaluateFinal(data, network, inputs, best, names, count, clock, device);
        return PersistResult(context, network, evaluation, best, names);
    }

    private PokemonData Load(Stopwatch clock)
    {
        var dataset = PokemonDataset.Load(dataDirectory, options.ImageSize, options.ClassLimit);
        var loadSeconds = clock.Elapsed.TotalSeconds; // decoding, resizing and hashing every image
        var classIndex = dataset.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
        var labels = dataset.Images.Select(i => (long)classIndex[i.PokedexNumber]).ToArray();
        var split = PokemonSplit.Create(dataset.Images.Select(i => i.PokedexNumber).ToList(), dataset.Hashes, options.Seed);
        var (trainIds, validationIds, testIds) = options.Split == "naive" ? split.Naive : (split.Train, split.Validation, split.Test);
        return new PokemonData(dataset, labels, split, trainIds, validationIds, testIds, loadSeconds);
    }

    private PokemonNetwork Build(PokemonData data, Device device)
    {
        var classes = data.Dataset.Classes.Count;
        var model = TorchRuntime.CreateSeeded<nn.Module<Tensor, Tensor>>(options.Seed, () => options.Backbone == PokemonTrainingOptions.ResNetImageNet
            ? new ResNet18(classes)
            : new MobileNetV3Small(classes));
        var resnet = model as ResNet18;
        if (resnet is not null)
        {
            ImageNetResNet18.LoadInto(resnet);
        }
        model.to(device);
        var fineTune = resnet is null ? PokemonTrainingOptions.FineTuneAll : options.FineTune;
        nn.Module trainable = fineTune switch
        {
            PokemonTrainingOptions.FineTuneNone => resnet!.Classifier,
            PokemonTrainingOptions.FineTuneLastStage => resnet!.Head,
            _ => model,
        };
        Func<Tensor, Tensor> logitsOf = fineTune switch
        {
            PokemonTrainingOptions.FineTuneNone => resnet!.Classify,
            PokemonTrainingOptions.FineTuneLastStage => resnet!.Head.forward,
            _ => model.forward,
        };
        return new PokemonNetwork(model, resnet, fineTune, trainable, logitsOf);
    }

    /// <summary>
    /// The splits' inputs: the images, or a frozen prefix's output computed once for every image (the pixels are then let
    /// go: at 224x224 they are 4 GB), and with last-stage augmentation the training images' mirror images' too.
    /// </summary>
    private PokemonInputs PrepareInputs(TrainContext context, PokemonData data, PokemonNetwork network, Device device)
    {
        var inputs = data.Dataset.Pixels;
        var frozenPassSeconds = 0.0;
        Tensor? mirroredTrainX = null;
        if (!options.TrainsOnPixels)
        {
            var prefixClock = Stopwatch.StartNew();
            var resnet = network.ResNet!;
            Func<Tensor, Tensor> prefix = network.FineTune == PokemonTrainingOptions.FineTuneNone ? resnet.Features : resnet.BeforeLastStage;
            inputs = Frozen(context, data, network, null, () => Precompute(resnet, prefix, data.Dataset.Pixels, null, device, context), device);
            if (network.FineTune == PokemonTrainingOptions.FineTuneLastStage && options.Augment)
            {
                mirroredTrainX = Frozen(context, data, network, data.TrainIds,
                    () => Precompute(resnet, prefix, data.Dataset.Pixels, data.TrainIds, device, context, mirror: true), device);
            }
            data.Dataset.Pixels.Dispose();
            frozenPassSeconds = prefixClock.Elapsed.TotalSeconds;
            LogFrozenPass(context.Logger, string.Join(", ", inputs.shape.Skip(1)), inputs.shape[0],
                mirroredTrainX is null ? "" : " and the training images' mirror images", prefixClock.Elapsed.TotalSeconds, network.FineTune);
        }
        Tensor Select(IReadOnlyList<int> ids) => inputs.index_select(0, tensor(ids.Select(i => (long)i).ToArray())).to(device);
        Tensor Labels(IReadOnlyList<int> ids) => tensor(ids.Select(i => data.Labels[i]).ToArray()).to(device);
        var prepared = new PokemonInputs(Select(data.TrainIds), Labels(data.TrainIds), Select(data.ValidationIds), Labels(data.ValidationIds),
            Select(data.TestIds), Labels(data.TestIds), mirroredTrainX, frozenPassSeconds);
        if (!options.TrainsOnPixels)
        {
            inputs.Dispose();
        }
        return prepared;
    }

    /// <summary>
    /// The frozen layers' activations of every image (or of <paramref name="mirrored"/>'s mirror images), from the cache when
    /// a job before computed them for the same backbone weights, layers, image size and images, else computed (and cached).
    /// </summary>
    private Tensor Frozen(TrainContext context, PokemonData data, PokemonNetwork network, IReadOnlyList<int>? mirrored, Func<Tensor> compute, Device device)
    {
        if (activations is null)
        {
            return compute();
        }
        var images = new StringBuilder();
        foreach (var (image, hash) in data.Dataset.Images.Zip(data.Dataset.Hashes))
        {
            images.Append(image.File).Append(' ').Append(hash.ToString("x16", CultureInfo.InvariantCulture)).Append('\n');
        }
        var key = new Dictionary<string, string>
        {
            ["backbone"] = options.Backbone,
            ["weights"] = ImageNetResNet18.WeightsDigest(),
            ["layers"] = network.FineTune == PokemonTrainingOptions.FineTuneNone ? "features" : "before-last-stage",
            ["image_size"] = options.ImageSize.ToString(CultureInfo.InvariantCulture),
            ["images"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(images.ToString()))),
            ["rows"] = mirrored is null ? "all" : "mirrored " + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(',', mirrored)))),
        };
        return activations.GetOrCompute(key, compute, context.Logger, out _).to(device);
    }

    /// <summary>Pretrained layers learn at their own rate, the new classifier at the profile's: the optimizer's groups and their base rates.</summary>
    private (IEnumerable<TorchSharp.Modules.Parameter> Parameters, double Rate)[] LearningRates(PokemonNetwork network)
    {
        static bool OfClassifier(string name) => name.Split('.') is [.., "classifier", _];
        var named = network.Trainable.named_parameters().ToList();
        return network.ResNet is null || network.FineTune == PokemonTrainingOptions.FineTuneNone
            ? [(network.Trainable.parameters(), options.LearningRate)]
            : [(named.Where(p => OfClassifier(p.name)).Select(p => p.parameter), options.LearningRate),
               (named.Where(p => !OfClassifier(p.name)).Select(p => p.parameter), options.BackboneLearningRate)];
    }

    /// <summary>The trained part, optimiser, generator and best weights as the latest checkpoint left them.</summary>
    private (int Epoch, long Step, BestModel Best) Resume(TrainContext context, PokemonNetwork network, TorchSharp.Modules.Adam optimizer, Generator generator)
    {
        if (context.LatestCheckpoint is not { } checkpoint)
        {
            return (0, 0, new BestModel(-1.0, 0, null));
        }
        var (epoch, step) = TorchState.Restore(checkpoint, Kind, options.CheckpointIdentity(), network.Trainable, optimizer, generator);
        return (epoch, step, new BestModel(
            double.Parse(checkpoint.Metadata["best_validation_accuracy"], System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(checkpoint.Metadata["best_epoch"], System.Globalization.CultureInfo.InvariantCulture),
            checkpoint.Section(BestModelSection)));
    }

    /// <summary>One pass over the training split with augmentation; returns the mean loss.</summary>
    private double TrainEpoch(TrainContext context, PokemonNetwork network, PokemonInputs inputs, TorchSharp.Modules.Adam optimizer, Generator generator,
        List<MetricSample> metrics, int epoch, long step, int stepsPerEpoch, long totalSteps, Stopwatch epochClock)
    {
        var count = (int)inputs.TrainX.shape[0];
        var device = inputs.TrainX.device;
        using var order = randperm(count, generator: generator);
        double lossSum = 0;
        for (var batch = 0; batch < stepsPerEpoch; batch++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var start = batch * options.BatchSize;
            var indices = order.narrow(0, start, Math.Min(options.BatchSize, count - start)).to(device);
            var x = inputs.TrainX.index_select(0, indices);
            if (options.Augment && options.TrainsOnPixels)
            {
                x = RandomCrop(EitherPerImage(x, x.flip(3), generator, device), generator);
            }
            else if (inputs.MirroredTrainX is not null)
            {
                // The mirror image's activations for half the batch, then a shift of up to one activation cell.
                x = RandomCrop(EitherPerImage(x, inputs.MirroredTrainX.index_select(0, indices), generator, device), generator);
            }
            network.Trainable.train();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(network.LogitsOf(x), inputs.TrainY.index_select(0, indices), label_smoothing: options.LabelSmoothing);
            loss.backward();
            optimizer.step();
            step++;
            var value = loss.item<float>();
            lossSum += value;
            metrics.Add(new MetricSample("train_loss", epoch + 1, step, value));
            context.ReportProgress(new TrainingProgress(epoch, options.LastEpoch, step, totalSteps, (start + indices.shape[0]) / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9)));
        }
        return lossSum / stepsPerEpoch;
    }

    /// <summary>The trained part, optimiser and generator, with the best weights so far and their validation accuracy.</summary>
    private void SaveCheckpoint(TrainContext context, PokemonNetwork network, TorchSharp.Modules.Adam optimizer, Generator generator,
        BestModel best, int epoch, long step, double validationTop1)
    {
        var identity = new Dictionary<string, string>(options.CheckpointIdentity())
        {
            ["best_validation_accuracy"] = best.Accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["best_epoch"] = best.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var sections = TorchState.Sections(network.Trainable, optimizer, generator);
        sections[BestModelSection] = best.Weights!;
        context.SaveCheckpoint(new TrainingCheckpoint(Kind, epoch + 1, step, validationTop1, identity, sections));
    }

    /// <summary>The best weights on the test split: top-1, top-5, per-class accuracy, the most confused pairs, and the split's duplicates.</summary>
    private PokemonEvaluation EvaluateFinal(PokemonData data, PokemonNetwork network, PokemonInputs inputs, BestModel best, List<string> names,
        int count, Stopwatch clock, Device device)
    {
        var dataset = data.Dataset;
        var (top1, top5, _, confusion) = Evaluate(network.Trainable, network.LogitsOf, inputs.TestX, inputs.TestY, dataset.Classes.Count);
        var perClass = new Dictionary<string, double>();
        var confused = new List<ConfusedPair>();
        for (var actual = 0; actual < names.Count; actual++)
        {
            var total = Enumerable.Range(0, names.Count).Sum(p => confusion[actual, p]);
            if (total > 0)
            {
                perClass[names[actual]] = (double)confusion[actual, actual] / total;
            }
            for (var predicted = 0; predicted < names.Count; predicted++)
            {
                if (predicted != actual && confusion[actual, predicted] > 0)
                {
                    confused.Add(new ConfusedPair(names[actual], names[predicted], confusion[actual, predicted]));
                }
            }
        }
        var split = data.Split;
        var duplicates = new DuplicateReport(dataset.Images.Count, dataset.Skipped.Count, split.NearDuplicatePairs, split.DuplicateGroups,
            split.NaiveCrossSplitPairs, options.Split == "naive" ? split.NaiveCrossSplitPairs : split.CrossSplitPairs, options.Split);
        return new PokemonEvaluation(options.Profile, top1, top5, best.Accuracy, best.Epoch, names.Count, count, data.ValidationIds.Count, data.TestIds.Count,
            perClass, confused.OrderByDescending(c => c.Count).Take(10).ToList(), duplicates, options.LastEpoch, options.ImageSize, options.Seed,
            device.ToString(), Math.Round(clock.Elapsed.TotalSeconds, 3), options.Backbone, network.FineTune, options.LearningRate,
            network.FineTune switch
            {
                _ when network.ResNet is null => options.LearningRate, // trained from scratch, every layer at lr
                PokemonTrainingOptions.FineTuneNone => 0, // frozen
                _ => options.BackboneLearningRate,
            }, options.LabelSmoothing, Math.Round(data.LoadSeconds, 3), Math.Round(inputs.FrozenPassSeconds, 3));
    }

    /// <summary><c>model.bin</c> (the whole network with the best weights), <c>classes.json</c> and <c>eval.json</c>.</summary>
    private TrainingResult PersistResult(TrainContext context, PokemonNetwork network, PokemonEvaluation evaluation, BestModel best, List<string> names)
    {
        var json = JsonSerializer.Serialize(evaluation, TraitTrainer.JsonOptions);
        // The whole network with the best weights (a frozen backbone's included), as predict loads it.
        context.SaveArtifact("model.bin", "application/x-torchsharp-module", network.Trainable == network.Model ? best.Weights! : TorchState.Save(network.Model));
        context.SaveArtifact("classes.json", "application/json", JsonSerializer.SerializeToUtf8Bytes(names));
        context.SaveArtifact("eval.json", "application/json", System.Text.Encoding.UTF8.GetBytes(json));
        return new TrainingResult(Kind, json, new Dictionary<string, double> { ["top1"] = evaluation.Top1, ["top5"] = evaluation.Top5 });
    }

    /// <summary>Each image (or activation map) or, with probability 1/2, its counterpart in <paramref name="mirrored"/>: a random horizontal flip.</summary>
    private static Tensor EitherPerImage(Tensor images, Tensor mirrored, Generator generator, Device device)
    {
        var flip = rand([images.shape[0]], generator: generator).lt(0.5).to(device).view(-1, 1, 1, 1);
        return where(flip, mirrored, images);
    }

    /// <summary>A random crop of each image (or activation map) after padding by 1/8 of the side, at least 1 (edge-replicated).</summary>
    private static Tensor RandomCrop(Tensor images, Generator generator)
    {
        var n = images.shape[0];
        var size = images.shape[2];
        var pad = (int)Math.Max(1, size / 8);
        var padded = nn.functional.pad(images, [pad, pad, pad, pad], PaddingModes.Replicate);
        var offsets = randint(2 * pad + 1, [n, 2], generator: generator).data<long>().ToArray();
        var crops = new List<Tensor>((int)n);
        for (var i = 0; i < n; i++)
        {
            crops.Add(padded[i].narrow(1, offsets[2 * i], size).narrow(2, offsets[(2 * i) + 1], size));
        }
        return stack(crops);
    }

    /// <summary>
    /// The frozen layers' output (<paramref name="prefix"/>) of every image, or of <paramref name="ids"/> only, 64 at a
    /// time; of the mirror images with <paramref name="mirror"/>.
    /// </summary>
    private static Tensor Precompute(ResNet18 model, Func<Tensor, Tensor> prefix, Tensor images, IReadOnlyList<int>? ids, Device device, TrainContext context, bool mirror = false)
    {
        model.eval();
        using var noGrad = no_grad();
        var order = ids?.Select(i => (long)i).ToArray() ?? [];
        var count = ids?.Count ?? images.shape[0];
        var parts = new List<Tensor>();
        for (long start = 0; start < count; start += 64)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var length = Math.Min(64, count - start);
            var batch = ids is null ? images.narrow(0, start, length) : images.index_select(0, tensor(order.AsSpan((int)start, (int)length).ToArray()));
            batch = batch.to(device);
            parts.Add(prefix(mirror ? batch.flip(3) : batch).MoveToOuterDisposeScope());
        }
        var output = cat(parts);
        foreach (var part in parts)
        {
            part.Dispose();
        }
        return output;
    }

    /// <summary>Top-1, top-5, mean loss and the confusion matrix [actual, predicted] over a split.</summary>
    public static (double Top1, double Top5, double Loss, int[,] Confusion) Evaluate(nn.Module model, Func<Tensor, Tensor> logitsOf, Tensor x, Tensor y, int classes)
    {
        model.eval();
        using var noGrad = no_grad();
        var confusion = new int[classes, classes];
        long top1 = 0, top5 = 0;
        double loss = 0;
        var n = x.shape[0];
        for (long start = 0; start < n; start += 256)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(256, n - start);
            var logits = logitsOf(x.narrow(0, start, length));
            var labels = y.narrow(0, start, length);
            loss += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            var best = logits.topk(Math.Min(5, classes), 1).indexes.cpu().data<long>().ToArray();
            var k = Math.Min(5, classes);
            var actual = labels.cpu().data<long>().ToArray();
            for (var i = 0; i < length; i++)
            {
                var predicted = best[i * k];
                confusion[actual[i], predicted]++;
                top1 += predicted == actual[i] ? 1 : 0;
                top5 += best.AsSpan((int)(i * k), k).Contains(actual[i]) ? 1 : 0;
            }
        }
        return ((double)top1 / Math.Max(1, n), (double)top5 / Math.Max(1, n), loss / Math.Max(1, n), confusion);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pokémon: the frozen ImageNet ResNet-18 layers' output [{Shape}] of {Images} images{Mirrored} in {Seconds:F0}s (fine_tune={FineTune})")]
    private static partial void LogFrozenPass(ILogger logger, string shape, long images, string mirrored, double seconds, string fineTune);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pokémon epoch {Epoch}/{Epochs}: train loss {Loss:F3}, validation accuracy {Accuracy:P1}")]
    private static partial void LogEpoch(ILogger logger, int epoch, int epochs, double loss, double accuracy);
}
