using PunkGrid.Training.Data;
using StbImageWriteSharp;

namespace PunkGrid.Training.Tests;

public class PokemonDataTests
{
    [Fact]
    public void The_real_set_loads_resized_with_classes_from_the_annotations()
    {
        var data = PokemonDataset.Load(TestData.Directory, size: 32, classLimit: 3);
        Assert.Equal([1, 2, 3], data.Classes); // bulbasaur, ivysaur, venusaur
        Assert.Equal([(long)data.Images.Count, 3, 32, 32], data.Pixels.shape);
        Assert.Equal(data.Images.Count, data.Hashes.Length);
        Assert.Contains(data.Images, i => i.ClassName == "bulbasaur" && i.PokedexNumber == 1);
        Assert.InRange(data.Pixels.min().item<float>(), 0f, 1f);
        Assert.InRange(data.Pixels.max().item<float>(), 0f, 1f);
        Assert.Empty(data.Skipped);
    }

    private static string FakeSet(params (string Name, int Id, byte[]? Content)[] files)
    {
        var root = TestData.NewTemporaryDirectory();
        Directory.CreateDirectory(Path.Combine(root, "pokemon", "images"));
        File.WriteAllLines(PokemonDataset.AnnotationsPath(root), ["img_name,pokemon_id", .. files.Select(f => $"{f.Name},{f.Id}")]);
        foreach (var (name, _, content) in files.Where(f => f.Content is not null))
        {
            File.WriteAllBytes(Path.Combine(root, "pokemon", "images", name), content!);
        }
        return root;
    }

    private static byte[] Png(int width, int height, Func<int, int, byte> shade)
    {
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                pixels[((y * width) + x) * 3] = pixels[(((y * width) + x) * 3) + 1] = pixels[(((y * width) + x) * 3) + 2] = shade(x, y);
            }
        }
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }

    [Fact]
    public void Missing_and_corrupt_files_are_skipped_and_counted_and_any_size_is_resized()
    {
        var root = FakeSet(
            ("abra001.png", 63, Png(40, 20, (x, _) => (byte)(x * 6))),  // wide: padded to a square
            ("abra002.png", 63, "not an image"u8.ToArray()),
            ("abra003.png", 63, null));
        var data = PokemonDataset.Load(root, size: 16);
        Assert.Single(data.Images);
        Assert.Equal([1L, 3, 16, 16], data.Pixels.shape);
        Assert.Equal(2, data.Skipped.Count);
        Assert.Contains(data.Skipped, s => s.File == "abra002.png" && s.Reason.StartsWith("not a readable image", StringComparison.Ordinal));
        Assert.Contains(data.Skipped, s => s.File == "abra003.png" && s.Reason == "file not found");
        Assert.Equal(1f, data.Pixels[0, 0, 0, 0].item<float>()); // white padding above the wide image
    }

    [Theory]
    [InlineData("name,id", "expected the header 'img_name,pokemon_id'")]
    [InlineData("img_name,pokemon_id\nabra001.jpg,152", "pokemon_id '152' is not a first-generation Pokédex number (1..151)")]
    [InlineData("img_name,pokemon_id\nabra001.jpg", "expected 2 fields")]
    [InlineData("img_name,pokemon_id\n../etc/passwd,1", "must be a plain file name")]
    public void Malformed_annotations_name_the_line_and_value(string csv, string expected)
    {
        var error = Assert.Throws<DataFormatException>(() => PokemonDataset.ParseAnnotations(csv.Split('\n'), "annotations.csv"));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Near_duplicates_stay_in_one_split_which_a_naive_split_would_not_guarantee()
    {
        // 6 classes x 20 images; in each class images come in near-identical pairs (same hash bar the last bit).
        var classes = new List<int>();
        var hashes = new List<ulong>();
        var random = new Random(3);
        for (var c = 1; c <= 6; c++)
        {
            for (var pair = 0; pair < 10; pair++)
            {
                var hash = (ulong)random.NextInt64() << 1;
                classes.AddRange([c, c]);
                hashes.AddRange([hash, hash | 1]);
            }
        }
        var split = PokemonSplit.Create(classes, hashes, seed: 7);
        Assert.Equal(60, split.NearDuplicatePairs);
        Assert.Equal(60, split.DuplicateGroups);
        Assert.Equal(0, split.CrossSplitPairs);
        Assert.True(split.NaiveCrossSplitPairs > 0, "a naive split separates some pairs");
        Assert.Equal(Enumerable.Range(0, 120), split.Train.Concat(split.Validation).Concat(split.Test).Order());
        foreach (var c in Enumerable.Range(1, 6))
        {
            Assert.Contains(split.Test, i => classes[i] == c);       // stratified: every class on every side
            Assert.Contains(split.Validation, i => classes[i] == c);
        }
    }

    [Fact]
    public void The_difference_hash_survives_re_encoding_and_tells_different_images_apart()
    {
        var root = FakeSet(
            ("a001.png", 1, Png(60, 60, (x, y) => (byte)((x * 3) + (y / 2)))),
            ("a002.png", 1, Png(30, 30, (x, y) => (byte)((x * 6) + y))),       // the same picture at half size
            ("a003.png", 1, Png(60, 60, (x, y) => (byte)(255 - (x * 3)))));    // a different one
        var hashes = PokemonDataset.Load(root, size: 16).Hashes;
        Assert.True(System.Numerics.BitOperations.PopCount(hashes[0] ^ hashes[1]) <= 5);
        Assert.True(System.Numerics.BitOperations.PopCount(hashes[0] ^ hashes[2]) > 20);
    }
}

public class PokemonModelTests
{
    [Fact]
    public void MobileNetV3_small_maps_rgb_images_to_class_logits()
    {
        PunkGrid.Training.Native.TorchRuntime.EnsureInitialized();
        using var model = new PunkGrid.Training.Models.MobileNetV3Small(149);
        model.eval();
        using var input = TorchSharp.torch.rand(2, 3, 64, 64);
        using var logits = model.forward(input);
        Assert.Equal([2L, 149], logits.shape);
        Assert.Contains(model.named_modules(), m => m.name.Length > 0 && m.module.GetName() == "SqueezeExcite");
        using var gray = TorchSharp.torch.rand(2, 1, 64, 64);
        Assert.Contains("RGB input [N, 3, H, W], got [2, 1, 64, 64]", Assert.Throws<ArgumentException>(() => model.forward(gray)).Message);
    }

    [Fact]
    public void A_short_run_reports_top1_top5_per_class_accuracy_and_the_duplicate_report()
    {
        var options = PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("quick", new Dictionary<string, string>
        {
            ["class_limit"] = "4",
            ["image_size"] = "32",
            ["epochs"] = "2",
        });
        var sink = new PunkGrid.Training.Trainers.InMemoryTrainingSink();
        var result = new PunkGrid.Training.Trainers.PokemonTrainer(options, TestData.Directory).Train(new PunkGrid.Training.Trainers.TrainContext(sink, "cpu"));
        Assert.InRange(result.Summary["top1"], 0, 1);
        Assert.Equal(1.0, result.Summary["top5"]); // 4 classes: the true one is always among the top 5
        Assert.Equal([1, 2], sink.Checkpoints.Select(c => c.Epoch));
        Assert.Equal(2, sink.Metrics.Count(m => m.Name == "validation_accuracy"));
        Assert.All(sink.Metrics, m => Assert.True(double.IsFinite(m.Value), m.Name));
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        var root = evaluation.RootElement;
        Assert.Equal(4, root.GetProperty("per_class_accuracy").EnumerateObject().Count());
        var duplicates = root.GetProperty("duplicates");
        Assert.Equal(0, duplicates.GetProperty("cross_split_pairs").GetInt32());
        Assert.True(duplicates.GetProperty("near_duplicate_pairs").GetInt32() >= duplicates.GetProperty("naive_cross_split_pairs").GetInt32());
        Assert.Equal("aware", duplicates.GetProperty("split_used").GetString());
    }
}

public class PokemonResumeTests
{
    [Fact]
    public void A_resumed_run_continues_after_its_checkpoint_and_keeps_the_best_weights_so_far()
    {
        PunkGrid.Training.Trainers.PokemonTrainer Tiny(int epochs, int stop = 0) => new(PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("quick",
            new Dictionary<string, string> { ["class_limit"] = "3", ["image_size"] = "32", ["epochs"] = $"{epochs}", ["stop_after_epoch"] = $"{stop}" }), TestData.Directory);
        // Stopped after epoch 1 of 2 (a search's trial at its first rung), then trained on from its checkpoint.
        var first = new PunkGrid.Training.Trainers.InMemoryTrainingSink();
        Tiny(2, stop: 1).Train(new PunkGrid.Training.Trainers.TrainContext(first, "cpu"));
        Assert.Equal([1], first.Checkpoints.Select(c => c.Epoch));
        var resumed = new PunkGrid.Training.Trainers.InMemoryTrainingSink();
        Tiny(2).Train(new PunkGrid.Training.Trainers.TrainContext(resumed, "cpu", first.LatestCheckpoint));

        Assert.Equal([2], resumed.Checkpoints.Select(c => c.Epoch));
        var firstSteps = first.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Step).ToList();
        var resumedSteps = resumed.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Step).ToList();
        Assert.Equal(firstSteps.Max() + 1, resumedSteps.Min()); // no gap, no repeat
        var bestBefore = double.Parse(first.LatestCheckpoint!.Metadata["best_validation_accuracy"], System.Globalization.CultureInfo.InvariantCulture);
        var bestAfter = double.Parse(resumed.LatestCheckpoint!.Metadata["best_validation_accuracy"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(bestAfter >= bestBefore, $"the best validation accuracy went from {bestBefore} to {bestAfter}");
        Assert.True(resumed.Artifacts.ContainsKey("model.bin"));

        // Dropout and augmentation draw from the checkpointed generator: the resumed run is the uninterrupted one.
        var straight = new PunkGrid.Training.Trainers.InMemoryTrainingSink();
        Tiny(2).Train(new PunkGrid.Training.Trainers.TrainContext(straight, "cpu"));
        var straightLoss = straight.Metrics.Where(m => m.Name == "train_loss").Select(m => m.Value).ToList();
        var pieceLoss = first.Metrics.Concat(resumed.Metrics).Where(m => m.Name == "train_loss").Select(m => m.Value).ToList();
        Assert.Equal(straightLoss.Count, pieceLoss.Count);
        foreach (var (x, y) in straightLoss.Zip(pieceLoss))
        {
            Assert.True(Math.Abs(x - y) <= 1e-4 * Math.Max(1, Math.Abs(x)), $"straight {x} vs resumed {y}");
        }
    }
}
