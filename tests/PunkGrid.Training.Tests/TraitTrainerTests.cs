using System.Text.Json;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Models;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Training.Tests;

public class TraitTrainerTests
{
    /// <summary>Small data: 200 balanced samples, batches of 50, so 4 steps an epoch.</summary>
    private static TraitTrainer Small(string trait = "Male", int epochs = 2, string color = "gray") =>
        new(TraitTrainingOptions.Create(trait, "seed", new Dictionary<string, string>
        {
            ["epochs"] = epochs.ToString(),
            ["train_samples"] = "200",
            ["batch_size"] = "50",
            ["color"] = color,
        }), TestData.Directory);

    /// <summary>Cancels training once a checkpoint of the given epoch is saved, as a killed worker would stop.</summary>
    private sealed class StopAfterEpoch(int epoch, CancellationTokenSource cancel) : InMemoryTrainingSink
    {
        public override void SaveCheckpoint(TrainingCheckpoint checkpoint)
        {
            base.SaveCheckpoint(checkpoint);
            if (checkpoint.Epoch == epoch)
            {
                cancel.Cancel();
            }
        }
    }

    [Fact]
    public void A_short_run_stores_checkpoints_metrics_and_its_evaluation()
    {
        var sink = new InMemoryTrainingSink();
        var result = Small(color: "rgb").Train(new TrainContext(sink, "cpu"));

        Assert.Equal([1, 2], sink.Checkpoints.Select(c => c.Epoch));
        Assert.Equal([4L, 8L], sink.Checkpoints.Select(c => c.Step));
        var steps = sink.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Step).ToList();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), steps);
        foreach (var name in new[] { "in_sample_accuracy", "in_sample_loss", "out_sample_accuracy", "out_sample_loss" })
        {
            Assert.Equal(8, sink.Metrics.Count(m => m.Name == name));
        }
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "test_f1"));
        Assert.All(sink.Metrics, m => Assert.True(double.IsFinite(m.Value), $"{m.Name} at step {m.Step} is {m.Value}"));

        using var evaluation = JsonDocument.Parse(sink.Artifacts["eval.json"]);
        var root = evaluation.RootElement;
        Assert.Equal("Male", root.GetProperty("trait").GetString());
        Assert.Equal("rgb", root.GetProperty("color").GetString());
        var tp = root.GetProperty("true_positives").GetInt64();
        var fn = root.GetProperty("false_negatives").GetInt64();
        Assert.Equal(root.GetProperty("test_positives").GetInt32(), tp + fn);
        Assert.Equal(root.GetProperty("test_count").GetInt32(),
            tp + fn + root.GetProperty("false_positives").GetInt64() + root.GetProperty("true_negatives").GetInt64());
        Assert.Equal(result.Summary["f1"], root.GetProperty("f1").GetDouble());
        Assert.True(sink.Artifacts["model.bin"].Length > 100_000);
        Assert.Equal(1.0, sink.Progress[^1].Fraction);
    }

    [Fact]
    public void Twelve_epochs_straight_equal_six_then_resume_then_six()
    {
        var straight = new InMemoryTrainingSink();
        Small(epochs: 12).Train(new TrainContext(straight, "cpu"));

        using var cancel = new CancellationTokenSource();
        var interrupted = new StopAfterEpoch(6, cancel);
        Assert.ThrowsAny<OperationCanceledException>(() => Small(epochs: 12).Train(new TrainContext(interrupted, "cpu", cancellation: cancel.Token)));
        Assert.Equal(6, interrupted.LatestCheckpoint!.Epoch);

        var resumed = new InMemoryTrainingSink();
        Small(epochs: 12).Train(new TrainContext(resumed, "cpu", interrupted.LatestCheckpoint));

        using var a = new TraitCnn(1);
        using var b = new TraitCnn(1);
        TorchState.Load(a, straight.Artifacts["model.bin"]);
        TorchState.Load(b, resumed.Artifacts["model.bin"]);
        WeightAssert.Equal(a, b);
        // The resumed attempt starts where the first stopped: no gap, no repeat in the step metrics.
        var firstSteps = interrupted.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Step);
        var resumedSteps = resumed.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Step);
        Assert.Equal(Enumerable.Range(1, 48).Select(i => (long)i), firstSteps.Concat(resumedSteps));
        Assert.Equal(7, resumed.Checkpoints[0].Epoch);
    }

    /// <summary>
    /// How a search's trial stops at a rung and is later trained on: stopped after epoch 2 of a 6-epoch schedule, then told
    /// to stop after epoch 4 and resumed from its checkpoint, it ends with the weights of a job trained straight to epoch 4
    /// of the same schedule, having trained no epoch twice.
    /// </summary>
    [Fact]
    public void A_job_stopped_at_an_epoch_and_trained_on_from_its_checkpoint_equals_one_trained_straight()
    {
        TraitTrainer Stopping(int stop) => new(TraitTrainingOptions.Create("Male", "seed", new Dictionary<string, string>
        {
            ["epochs"] = "6",
            ["stop_after_epoch"] = $"{stop}",
            ["train_samples"] = "200",
            ["batch_size"] = "50",
            ["lr_schedule"] = "cosine",
        }), TestData.Directory);

        var straight = new InMemoryTrainingSink();
        Stopping(4).Train(new TrainContext(straight, "cpu"));
        Assert.Equal([1, 2, 3, 4], straight.Checkpoints.Select(c => c.Epoch));
        Assert.Equal(1.0, straight.Progress[^1].Fraction);

        var rung = new InMemoryTrainingSink();
        var first = Stopping(2).Train(new TrainContext(rung, "cpu"));
        Assert.Equal([1, 2], rung.Checkpoints.Select(c => c.Epoch));
        Assert.True(first.Summary.ContainsKey("f1")); // evaluated at its rung like a last epoch
        using (var evaluation = JsonDocument.Parse(rung.Artifacts["eval.json"]))
        {
            Assert.Equal(2, evaluation.RootElement.GetProperty("epochs").GetInt32());
        }

        var promoted = new InMemoryTrainingSink();
        Stopping(4).Train(new TrainContext(promoted, "cpu", rung.LatestCheckpoint));
        Assert.Equal([3, 4], promoted.Checkpoints.Select(c => c.Epoch)); // no epoch trained twice
        using var a = new TraitCnn(1);
        using var b = new TraitCnn(1);
        TorchState.Load(a, straight.Artifacts["model.bin"]);
        TorchState.Load(b, promoted.Artifacts["model.bin"]);
        WeightAssert.Equal(a, b);

        Assert.Contains("stop_after_epoch=7 is not allowed: 0 (all) to epochs (6)",
            Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "seed", new Dictionary<string, string> { ["epochs"] = "6", ["stop_after_epoch"] = "7" })).Message);
    }

    [Fact]
    public void Resuming_from_another_traits_checkpoint_is_refused()
    {
        var sink = new InMemoryTrainingSink();
        Small("Hoodie", epochs: 1).Train(new TrainContext(sink, "cpu"));
        var error = Assert.Throws<CheckpointFormatException>(() =>
            Small("Earring", epochs: 2).Train(new TrainContext(new InMemoryTrainingSink(), "cpu", sink.LatestCheckpoint)));
        Assert.Contains("trait='Hoodie', but this job has trait='Earring'", error.Message);
    }

    [Fact]
    public void Profiles_and_overrides_are_validated_with_clear_messages()
    {
        var seed = TraitTrainingOptions.Create("Male", "seed");
        Assert.Equal((12, 16_000, 100, 0.01, 0.01, 0.0, 1e-10), (seed.Epochs, seed.TrainSamples, seed.BatchSize, seed.LearningRate, seed.LearningRateDecay, seed.WeightDecay, seed.Eps));
        var quick = TraitTrainingOptions.Create("Male", "quick", new Dictionary<string, string> { ["LR"] = "0.05", ["train-samples"] = "300" });
        Assert.Equal((1, 300, 0.05), (quick.Epochs, quick.TrainSamples, quick.LearningRate));

        Assert.Contains("unknown profile 'slow'; allowed: seed, quick",
            Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "slow")).Message);
        Assert.Contains("epochs='-3' is not allowed: expected an integer in 1..10000",
            Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "seed", new Dictionary<string, string> { ["epochs"] = "-3" })).Message);
        var unknown = Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "seed", new Dictionary<string, string> { ["epoch"] = "3" }));
        Assert.Contains("unknown trait parameter(s): epoch; allowed:", unknown.Message);
        Assert.Contains("epochs", unknown.Message);
    }

    [Fact]
    public void The_tuned_recipe_chooses_its_threshold_on_a_validation_split_and_applies_it_to_the_test_split()
    {
        var sink = new InMemoryTrainingSink();
        var options = TraitTrainingOptions.Create("Earring", "tuned", new Dictionary<string, string>
        {
            ["epochs"] = "2",
            ["train_samples"] = "200",
            ["batch_size"] = "50",
        });
        Assert.Equal(("adam", "cosine", 0.15, "validation", Data.PunkColorMode.Rgb), (options.Optimizer, options.LearningRateSchedule, options.ValidationFraction, options.Threshold, options.Color));
        var result = new TraitTrainer(options, TestData.Directory).Train(new TrainContext(sink, "cpu"));

        using var evaluation = JsonDocument.Parse(sink.Artifacts["eval.json"]);
        var root = evaluation.RootElement;
        var threshold = root.GetProperty("threshold").GetDouble();
        Assert.InRange(threshold, 0, 1);
        Assert.True(root.GetProperty("validation_count").GetInt32() > 1000); // 15 % of the 8,000 training punks
        Assert.True(root.GetProperty("validation_positives").GetInt32() >= 1);
        Assert.InRange(root.GetProperty("validation_f1").GetDouble(), 0, 1);
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "validation_f1"));
        Assert.Equal(result.Summary["f1"], root.GetProperty("f1").GetDouble());
        // The errors are listed (up to 100 of each) and drawn when there are any.
        foreach (var (listed, count, picture) in new[] { ("false_negative_ids", "false_negatives", "false-negatives.png"), ("false_positive_ids", "false_positives", "false-positives.png") })
        {
            var errors = root.GetProperty(count).GetInt64();
            Assert.Equal(Math.Min(errors, 100), root.GetProperty(listed).GetArrayLength());
            Assert.Equal(errors > 0, sink.Artifacts.ContainsKey(picture));
        }

        // The stored model at the stored threshold gives the stored test confusion.
        using var model = new TraitCnn(3, options.Architecture);
        TorchState.Load(model, sink.Artifacts["model.bin"]);
        var punks = TestData.Punks;
        var split = Data.PunkSplit.Create(punks.Traits, 42);
        var labels = punks.Traits.LabelsOf(punks.Traits.IndexOf("Earring"));
        using var images = Data.PunkImageTensors.ToModelInput(punks.Tiles, Data.PunkColorMode.Rgb);
        using var ids = TorchSharp.torch.tensor(split.Test.Select(i => (long)i).ToArray());
        using var inputs = images.index_select(0, ids);
        using var actual = TorchSharp.torch.tensor(split.Test.Select(i => labels[i] ? 1L : 0L).ToArray());
        var (confusion, _) = TraitTrainer.Evaluate(model, inputs, actual, threshold);
        Assert.Equal(root.GetProperty("true_positives").GetInt64(), confusion.TruePositives);
        Assert.Equal(root.GetProperty("false_positives").GetInt64(), confusion.FalsePositives);
    }

    [Fact]
    public void A_validation_threshold_without_a_validation_split_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "seed", new Dictionary<string, string> { ["threshold"] = "validation" }));
        Assert.Contains("threshold='validation' needs a validation split", error.Message);
        Assert.Contains("optimizer='sgd' is not allowed: expected one of adagrad, adam",
            Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Male", "tuned", new Dictionary<string, string> { ["optimizer"] = "sgd" })).Message);
        var demo = TraitTrainingOptions.Create("Male", "demo");
        Assert.Equal(("demo", 0, "validation"), (demo.Profile, demo.MonitorSamples, demo.Threshold));
    }
}
