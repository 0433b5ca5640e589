using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;
using StbImageSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class GanTests
{
    public GanTests() => TorchRuntime.EnsureInitialized();

    [Theory]
    [InlineData(0)]
    [InlineData(92)]
    public void Generator_makes_64px_rgba_and_discriminator_scores_it(int conditionSize)
    {
        using var generator = new PunkGenerator(conditionSize);
        using var discriminator = new PunkDiscriminator(conditionSize);
        using var noise = randn(3, PunkGenerator.Noise);
        using var labels = conditionSize > 0 ? zeros(3, conditionSize) : null;
        using var images = generator.forward(noise, labels);
        Assert.Equal([3L, 4, 64, 64], images.shape);
        Assert.InRange(images.min().item<float>(), 0f, 1f);
        Assert.InRange(images.max().item<float>(), 0f, 1f);
        using var logits = discriminator.forward(images, labels);
        Assert.Equal([3L, 1], logits.shape);
        // 4 strided convolutions 64 → 4 px, then the dense layer
        Assert.Equal(4, discriminator.named_parameters().Count(p => p.parameter.dim() == 4));
        Assert.Equal(4, generator.named_parameters().Count(p => p.parameter.dim() == 4));
    }

    [Fact]
    public void At_24px_the_networks_draw_and_judge_the_punks_own_pixels_and_the_auxiliary_discriminator_never_sees_the_labels()
    {
        using var generator = new PunkGenerator(92, PunkGenerator.NativeImageSize);
        using var discriminator = new PunkDiscriminator(92, PunkGenerator.NativeImageSize, GanConditioning.Auxiliary);
        using var noise = randn(3, PunkGenerator.Noise);
        using var labels = zeros(3, 92);
        using var images = generator.forward(noise, labels);
        Assert.Equal([3L, 4, 24, 24], images.shape);
        var verdict = discriminator.Judge(images, null); // the image alone
        Assert.Equal([3L, 1], verdict.RealLogits.shape);
        Assert.Equal([3L, 92], verdict.TraitLogits!.shape);
        // 3 strided convolutions 24 → 3 px; the generator: 2 transposed convolutions and the RGBA one
        Assert.Equal(3, discriminator.named_parameters().Count(p => p.parameter.dim() == 4));
        Assert.Equal(3, generator.named_parameters().Count(p => p.parameter.dim() == 4));
        // Labels given to an auxiliary discriminator change nothing: its trait head predicts them, never reads them.
        discriminator.eval();
        using var asked = ones(3, 92);
        Assert.True(discriminator.Judge(images, null).TraitLogits!.allclose(discriminator.Judge(images, asked).TraitLogits!, rtol: 0, atol: 0));
        using var big = rand(1, 4, 64, 64);
        Assert.Contains("[N, 4, 24, 24], got [1, 4, 64, 64]", Assert.Throws<ArgumentException>(() => discriminator.forward(big, null)).Message);
        Assert.Contains("draws 64 or 24 px images, not 32", Assert.Throws<ArgumentException>(() => new PunkGenerator(0, 32)).Message);
    }

    [Fact]
    public void A_conditional_network_without_labels_or_a_wrong_shape_is_a_clear_error()
    {
        using var generator = new PunkGenerator(92);
        using var discriminator = new PunkDiscriminator(0);
        using var noise = randn(1, PunkGenerator.Noise);
        Assert.Contains("give the 92 trait labels", Assert.Throws<ArgumentException>(() => generator.forward(noise, null)).Message);
        using var small = rand(1, 4, 24, 24);
        Assert.Contains("[N, 4, 64, 64], got [1, 4, 24, 24]", Assert.Throws<ArgumentException>(() => discriminator.forward(small, null)).Message);
    }

    private static GanTrainer Tiny(int epochs, int stop = 0) => new(GanTrainingOptions.Create("quick", new Dictionary<string, string>
    {
        ["epochs"] = $"{epochs}",
        ["stop_after_epoch"] = $"{stop}",
        ["train_limit"] = "64",
        ["batch_size"] = "32",
        ["conditional"] = "true",
    }), TestData.Directory);

    [Fact]
    public void A_short_conditional_run_stores_losses_checkpoints_and_sample_grids()
    {
        var sink = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(sink, "cpu"));
        Assert.Equal([1, 2], sink.Checkpoints.Select(c => c.Epoch));
        Assert.Equal(4, sink.Metrics.Count(m => m.Name == "d_loss"));
        Assert.All(sink.Metrics, m => Assert.True(double.IsFinite(m.Value), $"{m.Name} at step {m.Step} is {m.Value}"));
        foreach (var name in new[] { "samples-epoch-0001.png", "samples-epoch-0002.png", "samples.png" })
        {
            var grid = ImageResult.FromMemory(sink.Artifacts[name], ColorComponents.RedGreenBlueAlpha);
            Assert.Equal(((8 * 64) + (7 * 2), (2 * 64) + 2), (grid.Width, grid.Height));
        }
        Assert.Contains("\"conditional\": true", System.Text.Encoding.UTF8.GetString(sink.Artifacts["eval.json"]));

        // The judge: Punk-FID and, conditional, the share of punks showing every asked trait, per epoch and in eval.json.
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "punk_fid"));
        Assert.All(sink.Metrics.Where(m => m.Name == "trait_agreement"), m => Assert.InRange(m.Value, 0, 1));
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid").GetDouble() > 0);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid_real").GetDouble() < evaluation.RootElement.GetProperty("punk_fid").GetDouble()); // real punks are the floor
        // The conditional generator asked for the floor's training punks' trait sets: comparable with the floor.
        Assert.True(evaluation.RootElement.GetProperty("punk_fid_real").GetDouble() < evaluation.RootElement.GetProperty("punk_fid_unpaired").GetDouble());
        Assert.InRange(evaluation.RootElement.GetProperty("trait_agreement").GetDouble(), 0, 1);
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "asked_trait_recall"));
        foreach (var ceiling in new[] { "trait_agreement_real", "asked_trait_recall_real" })
        {
            Assert.InRange(evaluation.RootElement.GetProperty(ceiling).GetDouble(), 0, 1);
        }

        // Sample spread: the generated punks' variety relative to real ones, per epoch and in eval.json.
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "sample_spread"));
        Assert.All(sink.Metrics.Where(m => m.Name == "sample_spread"), m => Assert.True(m.Value > 0, $"sample_spread {m.Value}"));
        Assert.True(evaluation.RootElement.GetProperty("sample_spread").GetDouble() > 0);
    }

    [Fact]
    public void Two_epochs_straight_equal_one_then_resume_then_one()
    {
        var straight = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(straight, "cpu"));
        // Stopped after epoch 1 of 2 (a search's trial at its first rung), then trained on from its checkpoint.
        var first = new InMemoryTrainingSink();
        Tiny(2, stop: 1).Train(new TrainContext(first, "cpu"));
        Assert.Equal([1], first.Checkpoints.Select(c => c.Epoch));
        var resumed = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(resumed, "cpu", first.LatestCheckpoint));
        Assert.Equal([2], resumed.Checkpoints.Select(c => c.Epoch));

        using var a = new PunkGenerator(92);
        using var b = new PunkGenerator(92);
        TorchState.Load(a, straight.Artifacts["model.bin"]);
        TorchState.Load(b, resumed.Artifacts["model.bin"]);
        WeightAssert.Equal(a, b);

        // A job killed after its last checkpoint finishes from it without training: same model, and eval.json
        // says it took no step (no final losses) rather than reporting zeros.
        var finishing = new InMemoryTrainingSink();
        Tiny(2).Train(new TrainContext(finishing, "cpu", straight.LatestCheckpoint));
        using var c = new PunkGenerator(92);
        TorchState.Load(c, finishing.Artifacts["model.bin"]);
        WeightAssert.Equal(a, c);
        using var evaluation = System.Text.Json.JsonDocument.Parse(finishing.Artifacts["eval.json"]);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, evaluation.RootElement.GetProperty("final_discriminator_loss").ValueKind);
        Assert.True(evaluation.RootElement.GetProperty("punk_fid").GetDouble() > 0);
    }

    [Fact]
    public void A_short_tuned_conditional_run_trains_at_24px_with_the_auxiliary_classifier_and_cannot_be_resumed_as_seed()
    {
        var options = GanTrainingOptions.Create("tuned", new Dictionary<string, string>
        {
            ["epochs"] = "2",
            ["train_limit"] = "128",
            ["batch_size"] = "32",
            ["conditional"] = "true",
            ["judge_epochs"] = "2",
            ["judge_samples"] = "64",
        });
        var sink = new InMemoryTrainingSink();
        new GanTrainer(options, TestData.Directory).Train(new TrainContext(sink, "cpu"));
        // Every loss finite over 8 steps (a 3x3 convolution as the last layer gave NaN gradients within 0–75 steps here).
        Assert.All(sink.Metrics, m => Assert.True(double.IsFinite(m.Value), $"{m.Name} at step {m.Step} is {m.Value}"));
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "epoch_g_trait_loss"));
        Assert.All(sink.Metrics.Where(m => m.Name == "epoch_g_trait_loss"), m => Assert.True(m.Value > 0));
        var grid = ImageResult.FromMemory(sink.Artifacts["samples.png"], ColorComponents.RedGreenBlueAlpha);
        Assert.Equal(((8 * 72) + (7 * 2), (2 * 72) + 2), (grid.Width, grid.Height)); // 24x24 punks drawn 3x
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.Equal(24, evaluation.RootElement.GetProperty("image_size").GetInt32());
        Assert.Equal("auxiliary", evaluation.RootElement.GetProperty("conditioning").GetString());
        Assert.Equal(0.9, evaluation.RootElement.GetProperty("real_label").GetDouble());
        Assert.InRange(evaluation.RootElement.GetProperty("asked_trait_recall").GetDouble(), 0, 1);

        // Its checkpoint holds 24px networks: a seed (64px) job refuses it by name instead of failing on shapes.
        var asSeed = GanTrainingOptions.Create("seed", new Dictionary<string, string>
        {
            ["epochs"] = "3",
            ["train_limit"] = "128",
            ["batch_size"] = "32",
            ["conditional"] = "true",
            ["judge_epochs"] = "0",
        });
        var error = Assert.Throws<CheckpointFormatException>(() =>
            new GanTrainer(asSeed, TestData.Directory).Train(new TrainContext(new InMemoryTrainingSink(), "cpu", sink.LatestCheckpoint)));
        Assert.Contains("image_size='24', but this job has image_size='64'", error.Message);

        // The inference engine draws with it at 24px, from what its eval.json says.
        var settings = evaluation.RootElement.EnumerateObject().Where(p => p.Value.ValueKind is System.Text.Json.JsonValueKind.Number or System.Text.Json.JsonValueKind.String)
            .ToDictionary(p => p.Name, p => p.Value.ToString());
        settings["conditional"] = "true";
        var engine = new PunkGrid.Training.Inference.PunkInferenceEngine(TestData.Directory);
        var png = engine.GenerateWithGan(new PunkGrid.Training.Inference.StoredModel("job", sink.Artifacts["model.bin"], settings), ["Female", "Earring"], 4, 1);
        var drawn = ImageResult.FromMemory(png, ColorComponents.RedGreenBlueAlpha);
        Assert.Equal(((4 * 72) + (3 * 2), 72), (drawn.Width, drawn.Height));
    }

    [Fact]
    public void Gan_options_follow_the_write_up_and_reject_bad_values()
    {
        var seed = GanTrainingOptions.Create("seed");
        Assert.Equal((100, 0.0002, false), (seed.Epochs, seed.LearningRate, seed.Conditional));
        Assert.Equal((64, "input", 1.0), (seed.ImageSize, seed.Conditioning, seed.RealLabel));
        var tuned = GanTrainingOptions.Create("tuned");
        Assert.Equal((100, 24, "auxiliary", 0.9, 1.0), (tuned.Epochs, tuned.ImageSize, tuned.Conditioning, tuned.RealLabel, tuned.AuxiliaryWeight));
        Assert.Contains("image_size='32' is not allowed: expected one of 64, 24",
            Assert.Throws<ArgumentException>(() => GanTrainingOptions.Create("tuned", new Dictionary<string, string> { ["image_size"] = "32" })).Message);
        Assert.Contains("conditioning='projection' is not allowed: expected one of input, auxiliary",
            Assert.Throws<ArgumentException>(() => GanTrainingOptions.Create("tuned", new Dictionary<string, string> { ["conditioning"] = "projection" })).Message);
        Assert.Contains("real_label='0.2' is not allowed",
            Assert.Throws<ArgumentException>(() => GanTrainingOptions.Create("tuned", new Dictionary<string, string> { ["real_label"] = "0.2" })).Message);
        Assert.Equal((30, 4), (seed.JudgeEpochs, GanTrainingOptions.Create("quick").JudgeEpochs)); // a sharp judge for seed runs, a cheap one for quick
        Assert.Contains("conditional='maybe' is not allowed: expected one of true, false",
            Assert.Throws<ArgumentException>(() => GanTrainingOptions.Create("seed", new Dictionary<string, string> { ["conditional"] = "maybe" })).Message);
        var tooFew = new GanTrainer(GanTrainingOptions.Create("quick", new Dictionary<string, string> { ["train_limit"] = "10", ["batch_size"] = "64" }), TestData.Directory);
        Assert.Contains("10 training punks do not fill one batch of 64",
            Assert.Throws<ArgumentException>(() => tooFew.Train(new TrainContext(new InMemoryTrainingSink(), "cpu"))).Message);
    }
}

public class InferenceEngineTests
{
    [Fact]
    public void A_file_that_is_not_an_image_is_refused_naming_what_it_is()
    {
        var error = Assert.Throws<ArgumentException>(() => PunkGrid.Training.Inference.PunkInferenceEngine.DecodePunkImage("not an image"u8.ToArray()));
        Assert.Contains("is not a readable PNG/JPEG/BMP/GIF image (12 bytes)", error.Message);
    }

    [Fact]
    public void A_known_punk_is_scored_by_trained_trait_models_with_its_true_labels_beside()
    {
        var sink = new InMemoryTrainingSink();
        new TraitTrainer(TraitTrainingOptions.Create("Earring", "quick", new Dictionary<string, string> { ["train_samples"] = "100" }), TestData.Directory)
            .Train(new TrainContext(sink, "cpu"));
        var model = new PunkGrid.Training.Inference.StoredModel("job", sink.Artifacts["model.bin"], new Dictionary<string, string> { ["color"] = "gray" });
        var engine = new PunkGrid.Training.Inference.PunkInferenceEngine(TestData.Directory);
        var prediction = Assert.Single(engine.PredictTraits([("earring", model)], 0, null));
        Assert.Equal("Earring", prediction.Trait);
        Assert.True(prediction.Actual); // punk 0: Female, Green Eye Shadow, Earring, Blonde Bob
        Assert.InRange(prediction.Probability, 0, 1);
        Assert.Equal(0.5, prediction.Threshold); // a model without a chosen threshold: the softmax's call
        var tuned = model with { Settings = new Dictionary<string, string> { ["color"] = "gray", ["threshold"] = "0.0375" } };
        Assert.Equal(0.0375, Assert.Single(engine.PredictTraits([("Earring", tuned)], 0, null)).Threshold); // from its eval.json
        Assert.Contains("punk 10000 does not exist", Assert.Throws<ArgumentException>(() => engine.PredictTraits([("Earring", model)], 10_000, null)).Message);
    }

    [Fact]
    public void A_positional_model_is_loaded_with_the_architecture_its_eval_json_names()
    {
        var sink = new InMemoryTrainingSink();
        new TraitTrainer(TraitTrainingOptions.Create("Smile", "quick", new Dictionary<string, string> { ["train_samples"] = "100", ["architecture"] = "positional" }), TestData.Directory)
            .Train(new TrainContext(sink, "cpu"));
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.Equal("positional", evaluation.RootElement.GetProperty("architecture").GetString());
        var engine = new PunkGrid.Training.Inference.PunkInferenceEngine(TestData.Directory);
        var model = new PunkGrid.Training.Inference.StoredModel("job", sink.Artifacts["model.bin"],
            new Dictionary<string, string> { ["color"] = "gray", ["architecture"] = "positional" });
        Assert.InRange(Assert.Single(engine.PredictTraits([("Smile", model)], 0, null)).Probability, 0, 1);
        // Read as the seed's architecture, the weights do not fit: an error, not a wrong answer.
        var asSeed = model with { Settings = new Dictionary<string, string> { ["color"] = "gray" } };
        Assert.Contains("weights do not fit", Assert.Throws<CheckpointFormatException>(() => engine.PredictTraits([("Smile", asSeed)], 0, null)).Message);
        Assert.Contains("architecture='flat' is not allowed: expected one of seed, positional",
            Assert.Throws<ArgumentException>(() => TraitTrainingOptions.Create("Smile", "tuned", new Dictionary<string, string> { ["architecture"] = "flat" })).Message);
    }
}
