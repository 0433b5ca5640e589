using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

/// <summary>The ImageNet ResNet-18 read from the NuGet package's ONNX file into TorchSharp, checked against ONNX Runtime.</summary>
public class ImageNetResNet18Tests
{
    [Fact]
    public void Imported_weights_give_the_features_onnx_runtime_gives_on_the_same_images()
    {
        TorchRuntime.EnsureInitialized();
        var data = PokemonDataset.Load(DataDirectory.Resolve(), 224, classLimit: 2);
        var images = data.Pixels.narrow(0, 0, 3);
        using var imported = new ResNet18(10);
        ImageNetResNet18.LoadInto(imported);
        // What a job stores and a worker loads back: the weights with the mean image (a buffer).
        using var model = new ResNet18(10);
        TorchState.Load(model, TorchState.Save(imported));
        model.eval();
        float[] ours;
        using (no_grad())
        using (var features = model.Features(images))
        {
            ours = features.data<float>().ToArray();
        }

        var directory = ImageNetResNet18.DefaultDirectory;
        using var preprocessing = new InferenceSession(ImageNetResNet18.PreprocessingPath(directory));
        using var network = new InferenceSession(ImageNetResNet18.ModelPath(directory));
        var theirs = new List<float>();
        for (var i = 0; i < 3; i++)
        {
            var pixels = images[i].mul(255).contiguous().data<float>().ToArray();
            var original = new DenseTensor<float>(pixels, [1, 3, 224, 224]);
            using var prepared = preprocessing.Run([NamedOnnxValue.CreateFromTensor(preprocessing.InputMetadata.Keys.Single(), original)]);
            var preparedTensor = prepared.First().AsTensor<float>().ToDenseTensor();
            using var pooled = network.Run([NamedOnnxValue.CreateFromTensor(network.InputMetadata.Keys.Single(), preparedTensor)]);
            theirs.AddRange(pooled.First().AsTensor<float>().ToArray());
        }

        Assert.Equal(3 * ResNet18.FeatureCount, ours.Length);
        Assert.Equal(ours.Length, theirs.Count);
        var scale = theirs.Max(Math.Abs);
        Assert.True(scale > 0.1f, $"ONNX Runtime's features are all near zero (max {scale})");
        var worst = ours.Zip(theirs).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= 1e-3f * scale, $"largest difference {worst} against feature scale {scale}");
        // Different images give different features (the comparison is not of constants).
        Assert.NotEqual(theirs[0..512], theirs[512..1024]);
    }

    [Fact]
    public void Missing_weights_are_refused_naming_the_file_and_the_package()
    {
        TorchRuntime.EnsureInitialized();
        var empty = Directory.CreateTempSubdirectory("punkgrid-no-weights").FullName;
        using var model = new ResNet18(3);
        var error = Assert.Throws<PretrainedWeightsNotFoundException>(() => ImageNetResNet18.LoadInto(model, empty));
        Assert.Contains(ImageNetResNet18.ModelPath(empty), error.Message);
        Assert.Contains("Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1", error.Message);
        Assert.Contains("backbone=mobilenetv3-small", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_the_resnet_or_not_onnx_at_all_is_refused_naming_it()
    {
        TorchRuntime.EnsureInitialized();
        var folder = Directory.CreateTempSubdirectory("punkgrid-wrong-weights").FullName;
        var source = ImageNetResNet18.DefaultDirectory;
        Directory.CreateDirectory(Path.GetDirectoryName(ImageNetResNet18.ModelPath(folder))!);
        Directory.CreateDirectory(Path.GetDirectoryName(ImageNetResNet18.PreprocessingPath(folder))!);
        File.Copy(ImageNetResNet18.PreprocessingPath(source), ImageNetResNet18.PreprocessingPath(folder));
        File.Copy(ImageNetResNet18.PreprocessingPath(source), ImageNetResNet18.ModelPath(folder)); // a real ONNX file, not a ResNet
        using var model = new ResNet18(3);
        var wrong = Assert.Throws<OnnxFormatException>(() => ImageNetResNet18.LoadInto(model, folder));
        Assert.Contains("0 convolutions, the ResNet-18 it should hold has 22", wrong.Message);

        var bytes = File.ReadAllBytes(ImageNetResNet18.PreprocessingPath(source));
        File.WriteAllBytes(ImageNetResNet18.ModelPath(folder), bytes[..(bytes.Length / 2)]); // truncated
        var truncated = Assert.Throws<OnnxFormatException>(() => ImageNetResNet18.LoadInto(model, folder));
        Assert.Contains(ImageNetResNet18.ModelPath(folder), truncated.Message);
        Assert.Contains("past the end", truncated.Message);
    }

    /// <summary>The ImageNet ResNet-18 trained 3 epochs on the first 5 Pokémon at 64x64, with <paramref name="more"/> parameters.</summary>
    private static (PunkGrid.Training.Trainers.TrainingResult Result, PunkGrid.Training.Trainers.InMemoryTrainingSink Sink) TrainOnFivePokemon(params (string Key, string Value)[] more)
    {
        var parameters = new Dictionary<string, string> { ["class_limit"] = "5", ["image_size"] = "64", ["epochs"] = "3", ["backbone"] = "resnet18-imagenet" };
        foreach (var (key, value) in more)
        {
            parameters[key] = value;
        }
        var options = PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("quick", parameters);
        var sink = new PunkGrid.Training.Trainers.InMemoryTrainingSink();
        var result = new PunkGrid.Training.Trainers.PokemonTrainer(options, DataDirectory.Resolve()).Train(new PunkGrid.Training.Trainers.TrainContext(sink, "cpu"));
        return (result, sink);
    }

    /// <summary>What the inference engine, as the cluster's predict, answers for a Bulbasaur with the trained model.bin.</summary>
    private static IReadOnlyList<PunkGrid.Training.Inference.ClassProbability> PredictBulbasaur(PunkGrid.Training.Trainers.InMemoryTrainingSink sink)
    {
        var settings = new Dictionary<string, string> { ["backbone"] = "resnet18-imagenet", ["image_size"] = "64" };
        var names = System.Text.Json.JsonSerializer.Deserialize<List<string>>(sink.Artifacts["classes.json"])!;
        var engine = new PunkGrid.Training.Inference.PunkInferenceEngine(DataDirectory.Resolve());
        var image = File.ReadAllBytes(Path.Combine(DataDirectory.Resolve(), "pokemon", "images", "bulbasaur001.jpg"));
        return engine.PredictPokemon(new PunkGrid.Training.Inference.StoredModel("job", sink.Artifacts["model.bin"], settings), names, image);
    }

    [Fact]
    public void A_classifier_on_the_frozen_imagenet_features_learns_a_few_pokemon_and_predict_serves_it()
    {
        var (result, sink) = TrainOnFivePokemon();
        Assert.True(result.Summary["top1"] >= 0.7, $"top-1 {result.Summary["top1"]} on 5 classes (chance 0.2)");
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.Equal("resnet18-imagenet", evaluation.RootElement.GetProperty("backbone").GetString());
        Assert.Equal("none", evaluation.RootElement.GetProperty("fine_tune").GetString());
        Assert.Equal(0, evaluation.RootElement.GetProperty("backbone_learning_rate").GetDouble()); // frozen
        Assert.Equal("resnet18-imagenet", sink.LatestCheckpoint!.Metadata["backbone"]);

        // model.bin is the whole network: the inference engine serves it as the cluster's predict does.
        var top = PredictBulbasaur(sink);
        Assert.Equal(5, top.Count);
        Assert.Equal(1.0, top.Sum(p => p.Probability), 3);
    }

    [Fact]
    public void Fine_tuning_the_last_stage_trains_it_and_the_classifier_and_leaves_the_earlier_stages_as_imported()
    {
        var (result, sink) = TrainOnFivePokemon(("fine_tune", "last-stage"), ("label_smoothing", "0.1"));
        Assert.True(result.Summary["top1"] >= 0.6, $"top-1 {result.Summary["top1"]} on 5 classes (chance 0.2)");
        using var evaluation = System.Text.Json.JsonDocument.Parse(sink.Artifacts["eval.json"]);
        Assert.Equal("last-stage", evaluation.RootElement.GetProperty("fine_tune").GetString());
        Assert.Equal(0.0001, evaluation.RootElement.GetProperty("backbone_learning_rate").GetDouble());
        Assert.True(evaluation.RootElement.GetProperty("frozen_pass_seconds").GetDouble() > 0); // where the time went
        Assert.True(evaluation.RootElement.GetProperty("load_seconds").GetDouble() > 0);
        Assert.Equal("last-stage", sink.LatestCheckpoint!.Metadata["fine_tune"]);

        // model.bin against the imported network: every weight and statistic before the last stage as imported, the
        // last stage's convolutions moved (at backbone_lr), and its batch-norm statistics updated.
        using var trained = new ResNet18(5);
        TorchState.Load(trained, sink.Artifacts["model.bin"]);
        using var imported = new ResNet18(5);
        ImageNetResNet18.LoadInto(imported);
        var before = imported.state_dict();
        var changedInLastStage = 0;
        foreach (var (name, value) in trained.state_dict())
        {
            if (name.StartsWith("head.classifier.", StringComparison.Ordinal) || name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            {
                continue;
            }
            var same = value.allclose(before[name], rtol: 0, atol: 0);
            if (name.StartsWith("head.", StringComparison.Ordinal))
            {
                changedInLastStage += same ? 0 : 1;
            }
            else
            {
                Assert.True(same, $"{name} changed, but only the last stage is fine-tuned");
            }
        }
        Assert.True(changedInLastStage > 30, $"{changedInLastStage} of the last stage's tensors changed");

        // predict serves it like any ResNet model.
        var top = PredictBulbasaur(sink);
        Assert.Equal("bulbasaur", top[0].Name, ignoreCase: true);
    }

    [Fact]
    public void The_tuned_profile_fine_tunes_the_imagenet_resnet_and_a_bad_fine_tune_names_the_allowed_ones()
    {
        var tuned = PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("tuned");
        Assert.Equal(("resnet18-imagenet", "last-stage", 224), (tuned.Backbone, tuned.FineTune, tuned.ImageSize));
        Assert.False(tuned.TrainsOnPixels);
        Assert.True(PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("seed").TrainsOnPixels);
        var error = Assert.Throws<ArgumentException>(() => PunkGrid.Training.Trainers.PokemonTrainingOptions.Create("tuned",
            new Dictionary<string, string> { ["fine_tune"] = "stage3" }));
        Assert.Contains("fine_tune='stage3' is not allowed: expected one of none, last-stage, all", error.Message);
    }
}
