using Microsoft.Extensions.Logging;
using PunkGrid.Tests.Shared;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Models;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Training.Tests;

/// <summary>
/// The frozen backbone's activations shared by a Pokémon search's trials: the second job with the same backbone, layers,
/// image size and images reads them (verified) instead of computing them and trains the same model; an entry whose values
/// were changed on disk is refused and recomputed; a cache that cannot be written costs only the computation; and a job
/// with other images or another layer cut gets an entry of its own.
/// </summary>
public sealed class ActivationCacheTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"punkgrid-activation-test-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private (InMemoryTrainingSink Sink, CollectingLogger Log) Train(string cache, string fineTune = "none", int classes = 3)
    {
        var options = PokemonTrainingOptions.Create("quick", new Dictionary<string, string>
        {
            ["class_limit"] = $"{classes}",
            ["image_size"] = "64",
            ["epochs"] = "1",
            ["backbone"] = "resnet18-imagenet",
            ["fine_tune"] = fineTune,
        });
        var sink = new InMemoryTrainingSink();
        var log = new CollectingLogger();
        new PokemonTrainer(options, TestData.Directory, new ActivationCache(cache)).Train(new TrainContext(sink, "cpu", logger: log));
        return (sink, log);
    }

    private static void SameModel(InMemoryTrainingSink a, InMemoryTrainingSink b)
    {
        using var x = new ResNet18(3);
        using var y = new ResNet18(3);
        TorchState.Load(x, a.Artifacts["model.bin"]);
        TorchState.Load(y, b.Artifacts["model.bin"]);
        WeightAssert.Equal(x, y);
    }

    [Fact]
    public void The_second_trial_reads_the_frozen_activations_verified_and_a_changed_entry_is_recomputed_never_used()
    {
        var (first, firstLog) = Train(folder);
        Assert.DoesNotContain(firstLog.Messages, m => m.Message.Contains("read from the cache", StringComparison.Ordinal));
        var entry = Assert.Single(Directory.GetFiles(folder, "*.act"));

        var (second, secondLog) = Train(folder);
        Assert.Contains(secondLog.Messages, m => m.Message.StartsWith("Frozen activations read from the cache", StringComparison.Ordinal));
        SameModel(first, second);

        // One value changed on disk: refused by its digest, computed again, the same model trained.
        var bytes = File.ReadAllBytes(entry);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(entry, bytes);
        var (third, thirdLog) = Train(folder);
        Assert.Contains(thirdLog.Messages, m => m.Level == LogLevel.Warning && m.Message.Contains("do not hash to its digest", StringComparison.Ordinal));
        Assert.DoesNotContain(thirdLog.Messages, m => m.Message.Contains("read from the cache", StringComparison.Ordinal));
        SameModel(first, third);
        var (_, fourthLog) = Train(folder); // replaced by a good entry
        Assert.Contains(fourthLog.Messages, m => m.Message.StartsWith("Frozen activations read from the cache", StringComparison.Ordinal));

        // Other images, or a cut before the last stage (with its training images' mirror images, augmented), are other entries.
        Train(folder, classes: 2);
        Train(folder, fineTune: "last-stage");
        Assert.Equal(4, Directory.GetFiles(folder, "*.act").Length);
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void A_cache_that_cannot_be_written_costs_the_computation_and_nothing_else()
    {
        File.WriteAllText(folder, "a file where the cache's folder should be");
        try
        {
            var (sink, log) = Train(folder);
            Assert.Contains(log.Messages, m => m.Level == LogLevel.Warning && m.Message.Contains("could not be stored", StringComparison.Ordinal));
            Assert.True(sink.Artifacts.ContainsKey("model.bin"));
        }
        finally
        {
            File.Delete(folder);
        }
    }
}
