using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;
using StbImageSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class VaeTests
{
    public VaeTests() => TorchRuntime.EnsureInitialized();

    [Fact]
    public void The_vae_encodes_128px_punks_to_256_latents_and_decodes_them_back()
    {
        using var model = new PunkVae();
        model.eval();
        using var input = rand(2, 3, 128, 128);
        var (reconstruction, mean, logVariance) = model.forward(input);
        Assert.Equal([2L, 3, 128, 128], reconstruction.shape);
        Assert.Equal([2L, 256], mean.shape);
        Assert.Equal([2L, 256], logVariance.shape);
        Assert.InRange(reconstruction.min().item<float>(), 0f, 1f); // sigmoid output
        Assert.InRange(reconstruction.max().item<float>(), 0f, 1f);
        var names = model.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();
        Assert.Contains(names, p => p.shape.SequenceEqual(new long[] { 32, 3, 3, 3 }));     // encoder conv 1: 32 filters 3x3
        Assert.Contains(names, p => p.shape.SequenceEqual(new long[] { 256, 128, 3, 3 }));  // encoder conv 4: 256 filters
        Assert.Contains(names, p => p.shape.SequenceEqual(new long[] { 32, 3, 3, 3 }) && p.name.StartsWith("decoder", StringComparison.Ordinal)); // decoder out: 3 filters
    }

    [Fact]
    public void Two_epochs_straight_equal_one_then_resume_then_one_dropout_included()
    {
        VaeTrainer Tiny(int epochs, int stop = 0) => new(VaeTrainingOptions.Create("quick", new Dictionary<string, string>
        {
            ["epochs"] = $"{epochs}",
            ["stop_after_epoch"] = $"{stop}",
            ["train_limit"] = "32",
            ["test_limit"] = "8",
            ["batch_size"] = "16",
            ["judge_epochs"] = "0",
        }), TestData.Directory);
        var straight = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(straight, "cpu"));
        // Stopped after epoch 1 of 2 (a search's trial at its first rung), then trained on from its checkpoint.
        var first = new InMemoryTrainingSink();
        Tiny(2, stop: 1).Train(new TrainContext(first, "cpu"));
        Assert.Equal([1], first.Checkpoints.Select(c => c.Epoch));
        Assert.Equal(1.0, first.Progress[^1].Fraction);
        var resumed = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(resumed, "cpu", first.LatestCheckpoint));
        Assert.Equal([2], resumed.Checkpoints.Select(c => c.Epoch));
        Assert.Contains("stop_after_epoch=3 is not allowed: 0 (all) to epochs (2)", Assert.Throws<ArgumentException>(() => Tiny(2, stop: 3)).Message);

        using var a = new PunkVae();
        using var b = new PunkVae();
        PunkGrid.Training.Checkpoints.TorchState.Load(a, straight.Artifacts["model.bin"]);
        PunkGrid.Training.Checkpoints.TorchState.Load(b, resumed.Artifacts["model.bin"]);
        WeightAssert.Equal(a, b);
    }

    [Fact]
    public void Generator_dropout_draws_its_masks_from_its_generator_and_scales_the_kept_units()
    {
        using var dropout = new GeneratorDropout(0.4);
        using var input = ones(4, 1000);
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        dropout.Source = g1;
        using var first = dropout.forward(input);
        dropout.Source = g2;
        using var second = dropout.forward(input);
        Assert.True(first.eq(second).all().item<bool>()); // same generator state, same mask
        var kept = first.gt(0).to(ScalarType.Float32).mean().item<float>();
        Assert.InRange(kept, 0.55f, 0.65f);
        Assert.InRange(first.max().item<float>(), 1 / 0.6f - 1e-4f, 1 / 0.6f + 1e-4f);
        dropout.eval();
        using var inference = dropout.forward(input);
        Assert.True(inference.eq(input).all().item<bool>()); // identity at inference
        Assert.Throws<ArgumentOutOfRangeException>(() => new GeneratorDropout(1.0));
    }

    [Fact]
    public void A_wrongly_shaped_input_names_the_shape()
    {
        using var model = new PunkVae();
        using var input = rand(1, 3, 24, 24);
        Assert.Contains("[N, 3, 128, 128], got [1, 3, 24, 24]", Assert.Throws<ArgumentException>(() => model.forward(input)).Message);
    }

    [Fact]
    public void A_short_run_stores_finite_falling_losses_checkpoints_and_png_grids()
    {
        var options = VaeTrainingOptions.Create("quick", new Dictionary<string, string>
        {
            ["epochs"] = "2",
            ["train_limit"] = "64",
            ["test_limit"] = "16",
            ["batch_size"] = "32",
        });
        var sink = new InMemoryTrainingSink();
        var result = new VaeTrainer(options, TestData.Directory).Train(new TrainContext(sink, "cpu"));

        Assert.Equal([1, 2], sink.Checkpoints.Select(c => c.Epoch));
        Assert.All(sink.Metrics, m => Assert.True(double.IsFinite(m.Value), $"{m.Name} at step {m.Step} is {m.Value}"));
        var epochLoss = sink.Metrics.Where(m => m.Name == "epoch_train_loss").Select(m => m.Value).ToList();
        Assert.True(epochLoss[1] < epochLoss[0], $"training loss did not fall: {string.Join(" → ", epochLoss)}");
        Assert.True(result.Summary["test_mse"] > 0);

        var reconstructions = ImageResult.FromMemory(sink.Artifacts["reconstructions.png"], ColorComponents.RedGreenBlueAlpha);
        Assert.Equal((8 * 128) + (7 * 2), reconstructions.Width); // 8 test punks …
        Assert.Equal((2 * 128) + 2, reconstructions.Height);       // … above their reconstructions
        var samples = ImageResult.FromMemory(sink.Artifacts["samples.png"], ColorComponents.RedGreenBlueAlpha);
        Assert.Equal(((8 * 128) + (7 * 2), (2 * 128) + 2), (samples.Width, samples.Height));
        var strip = ImageResult.FromMemory(sink.Artifacts["interpolation.png"], ColorComponents.RedGreenBlueAlpha);
        Assert.Equal(((10 * 128) + (9 * 2), 128), (strip.Width, strip.Height));
        Assert.Contains("\"test_kl\"", System.Text.Encoding.UTF8.GetString(sink.Artifacts["eval.json"]));

        // The judge: a Punk-FID per epoch, and for samples and reconstructions in eval.json.
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "punk_fid"));
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid_samples").GetDouble() > 0);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid_reconstructions").GetDouble() > 0);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid_real").GetDouble() < evaluation.RootElement.GetProperty("punk_fid_reconstructions").GetDouble()); // real punks are the floor
        Assert.InRange(evaluation.RootElement.GetProperty("judge_test_accuracy").GetDouble(), 0.9, 1);
        Assert.InRange(evaluation.RootElement.GetProperty("judge_test_recall").GetDouble(), 0, 1);
        Assert.InRange(evaluation.RootElement.GetProperty("judge_test_precision").GetDouble(), 0, 1);
    }

    [Fact]
    public void Vae_options_follow_the_write_up_and_reject_bad_values()
    {
        var seed = VaeTrainingOptions.Create("seed");
        Assert.Equal((30, 64, 0.0008, 3.4, 0.38, 0.36), (seed.Epochs, seed.BatchSize, seed.LearningRate, seed.Beta, seed.EncoderDropout, seed.DecoderDropout));
        Assert.Equal((30, 4), (seed.JudgeEpochs, VaeTrainingOptions.Create("quick").JudgeEpochs));
        var tuned = VaeTrainingOptions.Create("tuned");
        Assert.Equal((30, 32, 0.00284999, 1.88139, 0.0, 0.0, 30), (tuned.Epochs, tuned.BatchSize, tuned.LearningRate, tuned.Beta, tuned.EncoderDropout, tuned.DecoderDropout, tuned.JudgeEpochs));
        Assert.Equal(("tuned", 1.0), (tuned.Profile, VaeTrainingOptions.Create("tuned", new Dictionary<string, string> { ["beta"] = "1" }).Beta));
        Assert.Contains("unknown profile 'demo'; allowed: seed, quick, tuned",
            Assert.Throws<ArgumentException>(() => VaeTrainingOptions.Create("demo")).Message);
        Assert.Contains("beta='-1' is not allowed",
            Assert.Throws<ArgumentException>(() => VaeTrainingOptions.Create("seed", new Dictionary<string, string> { ["beta"] = "-1" })).Message);
        Assert.Contains("unknown vae parameter(s): color",
            Assert.Throws<ArgumentException>(() => VaeTrainingOptions.Create("quick", new Dictionary<string, string> { ["color"] = "rgb" })).Message);
    }
}
