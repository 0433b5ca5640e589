using System.Collections.Concurrent;
using System.Security.Cryptography;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Imaging;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;
using StbImageSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Inference;

/// <summary>A stored model as inference needs it: the weights artifact and its settings (from <c>eval.json</c>).</summary>
public sealed record StoredModel(string JobId, byte[] Weights, IReadOnlyDictionary<string, string> Settings);

/// <summary>A class and its probability.</summary>
public sealed record ClassProbability(string Name, double Probability);

/// <summary>
/// One trait's probability for a punk, the model's decision threshold (from its <c>eval.json</c>; 0.5 when it has
/// none), and whether the punk really has it (when the punk is a known one).
/// </summary>
public sealed record TraitProbability(string Trait, double Probability, bool? Actual, double Threshold);

/// <summary>
/// Runs trained models: generates punks with a VAE or GAN and scores punks with the 92 trait classifiers. Its API is
/// bytes and records only, so grains can call it without touching a tensor. Loaded models are cached by weight hash.
/// </summary>
public sealed class PunkInferenceEngine(string dataDirectory)
{
    private readonly ConcurrentDictionary<string, nn.Module> cache = new(StringComparer.Ordinal);

    /// <summary>The model built by <paramref name="create"/> with the stored weights, cached by type, <paramref name="variant"/>
    /// (what else the constructor was given) and weight hash.</summary>
    private T Load<T>(StoredModel model, Func<T> create, string variant = "") where T : nn.Module
    {
        TorchRuntime.EnsureInitialized();
        var key = $"{typeof(T).Name}:{variant}:{Convert.ToHexStringLower(SHA256.HashData(model.Weights))}";
        return (T)cache.GetOrAdd(key, _ =>
        {
            var module = create();
            TorchState.Load(module, model.Weights);
            module.eval();
            return module;
        });
    }

    /// <summary>A PNG grid of <paramref name="count"/> punks from the VAE's prior.</summary>
    public byte[] GenerateWithVae(StoredModel model, int count, int seed)
    {
        var vae = Load(model, () => new PunkVae());
        lock (vae)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var random = new Generator((ulong)seed);
            var images = vae.Decode(randn([count, PunkVae.Latent], generator: random));
            return ImageGrid.ToPng(images, columns: Math.Min(count, 8));
        }
    }

    /// <summary>A PNG grid of <paramref name="count"/> GAN punks; a conditional GAN draws the asked traits.</summary>
    public byte[] GenerateWithGan(StoredModel model, IReadOnlyList<string> traits, int count, int seed)
    {
        var conditional = model.Settings.TryGetValue("conditional", out var c) && c == "true";
        if (!conditional && traits.Count > 0)
        {
            throw new ArgumentException($"the GAN of job {model.JobId} is not conditional: it cannot draw asked traits (train one with --set conditional=true)");
        }
        var table = PunkDataset.Load(dataDirectory).Traits;
        var labels = new float[PunkTraitTable.TraitCount];
        foreach (var trait in traits)
        {
            labels[table.IndexOf(trait)] = 1f;
        }
        // eval.json of runs before image_size existed has none: they drew the seed's 64x64.
        var imageSize = model.Settings.TryGetValue("image_size", out var size) ? int.Parse(size, System.Globalization.CultureInfo.InvariantCulture) : PunkGenerator.SeedImageSize;
        var generator = Load(model, () => new PunkGenerator(conditional ? PunkTraitTable.TraitCount : 0, imageSize));
        lock (generator)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var random = new Generator((ulong)seed);
            var noise = randn([count, PunkGenerator.Noise], generator: random);
            var condition = conditional ? tensor(labels).unsqueeze(0).expand(count, -1) : null;
            return ImageGrid.ToPng(generator.forward(noise, condition), columns: Math.Min(count, 8), scale: GanTrainer.GridScale(imageSize));
        }
    }

    /// <summary>Decodes a PNG (or any image StbImage reads) of one punk: 24x24, RGBA or RGB. Names what is wrong otherwise.</summary>
    public static byte[] DecodePunkImage(byte[] file)
    {
        ImageLimits.Check(file);
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(file, ColorComponents.RedGreenBlueAlpha);
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"the image is not a readable PNG/JPEG/BMP ({file.Length} bytes): {ex.Message}", ex);
        }
        if (image.Width != PunkSheet.TileSize || image.Height != PunkSheet.TileSize)
        {
            throw new ArgumentException($"the image is {image.Width}x{image.Height}; a punk is {PunkSheet.TileSize}x{PunkSheet.TileSize} (crop one tile of punks.png)");
        }
        return image.Data;
    }

    /// <summary>The five most likely Pokémon (fewer when the model knows fewer classes) for an image of any size.</summary>
    public IReadOnlyList<ClassProbability> PredictPokemon(StoredModel model, IReadOnlyList<string> classNames, byte[] image)
    {
        var size = model.Settings.TryGetValue("image_size", out var s) ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 96;
        using var scope = NewDisposeScope();
        var input = PokemonDataset.Prepare(image, size).unsqueeze(0);
        nn.Module<Tensor, Tensor> network = model.Settings.TryGetValue("backbone", out var backbone) && backbone == PokemonTrainingOptions.ResNetImageNet
            ? Load(model, () => new ResNet18(classNames.Count))
            : Load(model, () => new MobileNetV3Small(classNames.Count));
        lock (network)
        {
            using var noGrad = no_grad();
            var probabilities = nn.functional.softmax(network.forward(input), 1)[0];
            var (values, indexes) = probabilities.topk(Math.Min(5, classNames.Count));
            var p = values.data<float>().ToArray();
            var i = indexes.data<long>().ToArray();
            return Enumerable.Range(0, p.Length).Select(k => new ClassProbability(classNames[(int)i[k]], p[k])).ToList();
        }
    }

    /// <summary>Every given trait model's probability for one punk: a known punk by id, or a 24x24 RGBA image.</summary>
    public IReadOnlyList<TraitProbability> PredictTraits(IReadOnlyList<(string Trait, StoredModel Model)> models, int? punkId, byte[]? image)
    {
        TorchRuntime.EnsureInitialized();
        var data = PunkDataset.Load(dataDirectory);
        using var scope = NewDisposeScope();
        Tensor rgba;
        if (punkId is { } id)
        {
            if (id is < 0 or >= PunkTraitTable.PunkCount)
            {
                throw new ArgumentException($"punk {id} does not exist: ids are 0..{PunkTraitTable.PunkCount - 1}");
            }
            rgba = data.Tiles.narrow(0, id, 1);
        }
        else
        {
            rgba = tensor(DecodePunkImage(image ?? throw new ArgumentException("give a punk id or an image")), [1, PunkSheet.TileSize, PunkSheet.TileSize, 4], ScalarType.Byte);
        }
        var result = new List<TraitProbability>();
        foreach (var (trait, model) in models)
        {
            var color = PunkImageTensors.ParseColorMode(model.Settings.TryGetValue("color", out var c) ? c : "gray");
            var architecture = TraitCnnArchitectures.Parse(model.Settings.TryGetValue("architecture", out var a) ? a : "seed");
            var cnn = Load(model, () => new TraitCnn(PunkImageTensors.Channels(color), architecture), $"{color}:{architecture}");
            var input = PunkImageTensors.ToModelInput(rgba, color);
            double probability;
            lock (cnn)
            {
                using var noGrad = no_grad();
                probability = cnn.Probabilities(input)[0, 1].item<float>();
            }
            var index = data.Traits.IndexOf(trait);
            var threshold = model.Settings.TryGetValue("threshold", out var t)
                && double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : 0.5;
            result.Add(new TraitProbability(data.Traits.TraitNames[index], probability, punkId is { } p ? data.Traits.Has(p, index) : null, threshold));
        }
        return result;
    }
}
