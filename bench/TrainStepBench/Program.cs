using System.Diagnostics;
using System.Globalization;
using PunkGrid.Training.Models;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;
using TorchSharp;
using static TorchSharp.torch;

// One training step per model, timed with the model classes and optimisers PunkGrid's trainers use, on synthetic
// batches of the seed profile's shapes (the data pipelines differ between the two implementations; the step does
// not). Prints one JSON line per model: {"model", "parameters", "ms_per_step": [one per repeat]}.
// Usage: PunkGrid.TrainStepBench [--models trait,vae,vae-torch-dropout,gan,cgan,gan-tuned,cgan-tuned,pokemon] [--steps N] [--warmup N]
//        [--repeats N] [--threads N]
BenchSettings settings;
try
{
    settings = BenchSettings.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
TorchRuntime.EnsureInitialized();
torch.set_num_threads(settings.Threads);
foreach (var name in settings.Models)
{
    var step = TrainSteps.Create(name);
    for (var i = 0; i < settings.Warmup; i++)
    {
        step.Run();
    }
    var perRepeat = new List<double>();
    for (var r = 0; r < settings.Repeats; r++)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < settings.Steps; i++)
        {
            step.Run();
        }
        perRepeat.Add(clock.Elapsed.TotalMilliseconds / settings.Steps);
    }
    var times = string.Join(", ", perRepeat.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)));
    Console.WriteLine($"{{\"impl\": \"torchsharp\", \"model\": \"{name}\", \"parameters\": {step.Parameters}, \"threads\": {settings.Threads}, \"ms_per_step\": [{times}]}}");
    step.Dispose();
}
return 0;

internal sealed record BenchSettings(IReadOnlyList<string> Models, int Steps, int Warmup, int Repeats, int Threads)
{
    public static BenchSettings Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'; usage: --models LIST --steps N --warmup N --repeats N --threads N");
            }
            values[args[i][2..]] = args[++i];
        }
        int Number(string key, int fallback, int min = 1) =>
            !values.TryGetValue(key, out var raw) ? fallback
            : int.TryParse(raw, CultureInfo.InvariantCulture, out var n) && n >= min ? n
            : throw new ArgumentException($"--{key} '{raw}' is not allowed: expected an integer of at least {min}");
        var models = values.TryGetValue("models", out var list) ? list.Split(',', StringSplitOptions.RemoveEmptyEntries) : TrainSteps.Names;
        foreach (var model in models)
        {
            if (!TrainSteps.Names.Contains(model))
            {
                throw new ArgumentException($"unknown model '{model}'; allowed: {string.Join(", ", TrainSteps.Names)}");
            }
        }
        return new BenchSettings(models, Number("steps", 10), Number("warmup", 2, min: 0), Number("repeats", 3), Number("threads", Environment.ProcessorCount));
    }
}

internal abstract class TrainStep : IDisposable
{
    public abstract long Parameters { get; }

    public abstract void Run();

    public abstract void Dispose();

    protected static long Count(nn.Module module) => module.parameters().Sum(p => p.numel());
}

internal static class TrainSteps
{
    public static readonly string[] Names = ["trait", "vae", "vae-torch-dropout", "gan", "cgan", "gan-tuned", "cgan-tuned", "pokemon"];

    public static TrainStep Create(string name) => name switch
    {
        "trait" => new TraitStep(),
        "vae" => new VaeStep(checkpointedDropout: true),
        "vae-torch-dropout" => new VaeStep(checkpointedDropout: false),
        "gan" => new GanStep(conditionSize: 0),
        "cgan" => new GanStep(conditionSize: 92),
        "gan-tuned" => new GanStep(conditionSize: 0, GanTrainingOptions.Create("tuned")),
        "cgan-tuned" => new GanStep(conditionSize: 92, GanTrainingOptions.Create("tuned")),
        "pokemon" => new PokemonStep(),
        _ => throw new ArgumentException($"unknown model '{name}'"),
    };
}

/// <summary>Seed profile: gray 24x24, batch 100, AdaGrad (lr 0.01, lr-decay 0.01, eps 1e-10), cross-entropy.</summary>
internal sealed class TraitStep : TrainStep
{
    private readonly TraitCnn model = TorchRuntime.CreateSeeded(1, () => new TraitCnn(1));
    private readonly optim.Optimizer optimizer;
    private readonly Tensor inputs = rand(100, 1, TraitCnn.ImageSize, TraitCnn.ImageSize);
    private readonly Tensor labels = randint(0, 2, [100], dtype: int64);

    public TraitStep() => optimizer = optim.Adagrad(model.parameters(), 0.01, 0.01, 0, 0, 1e-10);

    public override long Parameters => Count(model);

    public override void Run()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.forward(inputs), labels);
        loss.backward();
        optimizer.step();
    }

    public override void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
    }
}

/// <summary>Seed profile: 128x128x3, batch 64, Adam 0.0008, MSE + 3.4·KL; dropout masks from a job-owned generator (as trained) or libtorch's.</summary>
internal sealed class VaeStep : TrainStep
{
    private readonly PunkVae model = TorchRuntime.CreateSeeded(1, () => new PunkVae());
    private readonly optim.Optimizer optimizer;
    private readonly Generator masks = new(7);
    private readonly Tensor images = rand(64, 3, PunkVae.ImageSize, PunkVae.ImageSize);

    public VaeStep(bool checkpointedDropout)
    {
        optimizer = optim.Adam(model.parameters(), 0.0008);
        if (checkpointedDropout)
        {
            GeneratorDropout.UseGenerator(model, masks);
        }
        model.train();
    }

    public override long Parameters => Count(model);

    public override void Run()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var (reconstruction, mean, logVariance) = model.forward(images);
        var (mse, kl) = PunkVae.Losses(reconstruction, images, mean, logVariance);
        (mse + (3.4 * kl)).backward();
        optimizer.step();
    }

    public override void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
        masks.Dispose();
    }
}

/// <summary>
/// Seed profile: 64x64x4, batch 64, Adam 0.0002 (β1 0.5), BCE; GanTrainer's own step (one discriminator and one generator
/// update). With the tuned profile's options: 24x24x4, real label 0.9, and conditional, the auxiliary trait classifier.
/// </summary>
internal sealed class GanStep : TrainStep
{
    private readonly PunkGenerator generator;
    private readonly PunkDiscriminator discriminator;
    private readonly optim.Optimizer generatorOptimizer;
    private readonly optim.Optimizer discriminatorOptimizer;
    private readonly Tensor real;
    private readonly Tensor? condition;
    private readonly GanTrainingOptions options;

    public GanStep(int conditionSize, GanTrainingOptions? profile = null)
    {
        options = profile ?? GanTrainingOptions.Create("seed");
        real = rand(64, PunkGenerator.Channels, options.ImageSize, options.ImageSize);
        generator = TorchRuntime.CreateSeeded(1, () => new PunkGenerator(conditionSize, options.ImageSize));
        discriminator = TorchRuntime.CreateSeeded(2, () => new PunkDiscriminator(conditionSize, options.ImageSize, options.Conditioning));
        generatorOptimizer = optim.Adam(generator.parameters(), 0.0002, 0.5, 0.999);
        discriminatorOptimizer = optim.Adam(discriminator.parameters(), 0.0002, 0.5, 0.999);
        condition = conditionSize > 0 ? randint(0, 2, [64, conditionSize]).to(float32) : null;
        generator.train();
        discriminator.train();
    }

    public override long Parameters => Count(generator) + Count(discriminator);

    public override void Run()
    {
        using var scope = NewDisposeScope();
        GanTrainer.AdversarialStep(generator, discriminator, generatorOptimizer, discriminatorOptimizer, real, randn(64, PunkGenerator.Noise), condition,
            options.RealLabel, options.AuxiliaryWeight);
    }

    public override void Dispose()
    {
        generatorOptimizer.Dispose();
        discriminatorOptimizer.Dispose();
        generator.Dispose();
        discriminator.Dispose();
    }
}

/// <summary>Seed profile: MobileNetV3-Small, 149 classes, 96x96, batch 32, Adam 0.001, cross-entropy.</summary>
internal sealed class PokemonStep : TrainStep
{
    private readonly MobileNetV3Small model = TorchRuntime.CreateSeeded(1, () => new MobileNetV3Small(149));
    private readonly optim.Optimizer optimizer;
    private readonly Tensor images = rand(32, 3, 96, 96);
    private readonly Tensor labels = randint(0, 149, [32], dtype: int64);

    public PokemonStep()
    {
        optimizer = optim.Adam(model.parameters(), 0.001);
        model.train();
    }

    public override long Parameters => Count(model);

    public override void Run()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.forward(images), labels);
        loss.backward();
        optimizer.step();
    }

    public override void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
    }
}
