using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Evaluation;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class ModelAndCheckpointTests
{
    public ModelAndCheckpointTests() => TorchRuntime.EnsureInitialized();

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void The_trait_cnn_maps_a_batch_to_two_class_probabilities(int channels)
    {
        using var model = new TraitCnn(channels);
        using var input = rand(5, channels, 24, 24);
        using var probabilities = model.Probabilities(input);
        Assert.Equal([5L, 2], probabilities.shape);
        using var sums = probabilities.sum(1);
        Assert.All(sums.data<float>().ToArray(), s => Assert.Equal(1f, s, 5));
        // conv 1→32, 32→64, 64→128 (2x2) and linear 128→512→2, as the seed has it
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal([32L, channels, 2, 2], shapes["conv1.weight"]);
        Assert.Equal([64L, 32, 2, 2], shapes["conv2.weight"]);
        Assert.Equal([128L, 64, 2, 2], shapes["conv3.weight"]);
        Assert.Equal([512L, 128], shapes["fc1.weight"]);
        Assert.Equal([2L, 512], shapes["fc2.weight"]);
    }

    [Fact]
    public void The_positional_architecture_tells_where_a_pattern_is_and_the_seeds_does_not()
    {
        // One lit pixel at (7, 7) or four pixels further at (11, 11): both reach the third convolution's 4x4 map whole
        // (cells 0-1 and 1-2), one cell apart. Global max-pooling sees the same values either way; the flattened map
        // sees them in different places.
        using var seed = TorchRuntime.CreateSeeded(7, () => new TraitCnn(3));
        using var positional = TorchRuntime.CreateSeeded(7, () => new TraitCnn(3, TraitCnnArchitecture.Positional));
        using var input = zeros(2, 3, 24, 24);
        input[0, .., 7, 7] = tensor(1f);
        input[1, .., 11, 11] = tensor(1f);
        using var noGrad = no_grad();
        using var seedLogits = seed.forward(input);
        using var positionalLogits = positional.forward(input);
        Assert.True(seedLogits[0].allclose(seedLogits[1], rtol: 0, atol: 1e-6), "the seed's CNN should not tell the two places apart");
        Assert.False(positionalLogits[0].allclose(positionalLogits[1], rtol: 0, atol: 1e-6), "the positional CNN should tell the two places apart");
        var shapes = positional.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal([512L, 128 * 4 * 4], shapes["fc1.weight"]);
        Assert.Equal([128L, 64, 2, 2], shapes["conv3.weight"]);
        Assert.Equal(TraitCnnArchitecture.Positional, TraitCnnArchitectures.Parse("positional"));
        Assert.Contains("unknown trait architecture 'flat'; allowed: seed, positional",
            Assert.Throws<ArgumentException>(() => TraitCnnArchitectures.Parse("flat")).Message);
    }

    [Fact]
    public void A_wrongly_shaped_input_names_the_shape_expected_and_given()
    {
        using var model = new TraitCnn(1);
        using var input = rand(2, 3, 24, 24);
        var error = Assert.Throws<ArgumentException>(() => model.forward(input));
        Assert.Contains("[N, 1, 24, 24], got [2, 3, 24, 24]", error.Message);
    }

    private static TrainingCheckpoint Sample() => new("trait", 3, 480, 0.9,
        new Dictionary<string, string> { ["trait"] = "Male", ["seed"] = "42" },
        new Dictionary<string, byte[]> { ["model"] = [1, 2, 3, 4], ["optimizer"] = [], ["rng"] = [9, 8] });

    [Fact]
    public void A_checkpoint_round_trips_through_its_file_format()
    {
        var decoded = CheckpointCodec.Decode(CheckpointCodec.Encode(Sample()));
        Assert.Equal(("trait", 3, 480L, (double?)0.9), (decoded.Kind, decoded.Epoch, decoded.Step, decoded.Score));
        Assert.Equal("Male", decoded.Metadata["trait"]);
        Assert.Equal([1, 2, 3, 4], decoded.Section("model"));
        Assert.Empty(decoded.Section("optimizer"));
        Assert.Equal([9, 8], decoded.Section("rng"));
    }

    [Fact]
    public void Model_and_optimizer_state_round_trip_through_a_checkpoint()
    {
        using var model = new TraitCnn(1);
        using var optimizer = optim.Adagrad(model.parameters(), 0.01, 0.01, 0, 0, 1e-10);
        using (var loss = model.forward(rand(4, 1, 24, 24)).sum())
        {
            loss.backward();
        }
        optimizer.step();
        var checkpoint = CheckpointCodec.Decode(CheckpointCodec.Encode(new TrainingCheckpoint("trait", 1, 1, null,
            new Dictionary<string, string>(), new Dictionary<string, byte[]>
            {
                ["model"] = TorchState.Save(model),
                ["optimizer"] = TorchState.Save(optimizer),
            })));

        using var restored = new TraitCnn(1);
        using var restoredOptimizer = optim.Adagrad(restored.parameters(), 0.01, 0.01, 0, 0, 1e-10);
        TorchState.Load(restored, checkpoint.Section("model"));
        TorchState.Load(restoredOptimizer, checkpoint.Section("optimizer"));
        foreach (var ((name, expected), (_, actual)) in model.named_parameters().Zip(restored.named_parameters()))
        {
            Assert.True(expected.equal(actual).all().item<bool>(), name);
        }
        Assert.Equal(TorchState.Save(optimizer), TorchState.Save(restoredOptimizer));
    }

    [Fact]
    public void A_corrupt_checkpoint_is_rejected_and_says_so()
    {
        var bytes = CheckpointCodec.Encode(Sample());
        bytes[bytes.Length / 2] ^= 0xFF;
        Assert.Contains("corrupt", Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode(bytes)).Message);
    }

    [Fact]
    public void A_truncated_or_foreign_file_is_not_a_checkpoint()
    {
        var bytes = CheckpointCodec.Encode(Sample());
        Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode(bytes.AsSpan(0, bytes.Length - 10)));
        Assert.Contains("not a PunkGrid checkpoint", Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode("hello"u8)).Message);
    }

    [Fact]
    public void Weights_of_another_shape_are_refused()
    {
        using var gray = new TraitCnn(1);
        using var rgb = new TraitCnn(3);
        var error = Assert.Throws<CheckpointFormatException>(() => TorchState.Load(rgb, TorchState.Save(gray)));
        Assert.Contains("do not fit", error.Message);
    }

    [Fact]
    public void A_checkpoint_of_another_job_is_refused_naming_the_difference()
    {
        var error = Assert.Throws<CheckpointFormatException>(() =>
            CheckpointCodec.RequireCompatible(Sample(), "trait", new Dictionary<string, string> { ["trait"] = "Hoodie" }));
        Assert.Contains("trait='Male', but this job has trait='Hoodie'", error.Message);
        Assert.Contains("kind 'trait', but this job is 'vae'",
            Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.RequireCompatible(Sample(), "vae", new Dictionary<string, string>())).Message);
    }

    [Fact]
    public void Retention_keeps_the_last_two_and_the_best()
    {
        var entries = new[] { (1, 0.5), (2, 0.9), (3, 0.7), (4, 0.6), (5, 0.65) }
            .Select(e => new CheckpointRetention.Entry<int>(e.Item1, e.Item1, e.Item2));
        Assert.Equal([3, 1], CheckpointRetention.ToDelete(entries));
    }

    [Fact]
    public void Confusion_metrics_follow_their_definitions()
    {
        var c = BinaryConfusion.FromPredictions([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]);
        Assert.Equal(new BinaryConfusion(2, 1, 2, 1), c);
        Assert.Equal(4.0 / 6, c.Accuracy, 10);
        Assert.Equal(2.0 / 3, c.Precision, 10);
        Assert.Equal(2.0 / 3, c.Recall, 10);
        Assert.Equal(2.0 / 3, c.F1, 10);
        Assert.Equal(0, new BinaryConfusion(0, 0, 5, 0).F1);
    }
}
