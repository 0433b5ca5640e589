using System.Collections.Concurrent;
using PunkGrid.Training.Data;
using PunkGrid.Training.Native;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Evaluation;

/// <summary>
/// A punk feature network: a small CNN trained on real punks (24x24 RGB on the fixed background) to predict all 92
/// traits at once (multi-label). Its 128-d penultimate features give the Fréchet distance between real and generated
/// punks ("Punk-FID", the FID idea with a punk-specific network), and its trait predictions check whether a
/// conditional generator drew what was asked.
/// </summary>
public sealed class PunkFeatureNet : Module<Tensor, Tensor>
{
    private readonly Sequential body;
    private readonly Linear head;

    public PunkFeatureNet() : base(nameof(PunkFeatureNet))
    {
        body = Sequential(
            Conv2d(3, 32, kernel_size: 3, padding: 1), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, kernel_size: 3, padding: 1), ReLU(), MaxPool2d(2),
            Conv2d(64, 128, kernel_size: 3, padding: 1), ReLU(),
            Flatten(), Linear(128 * 6 * 6, 128), ReLU()); // where a feature is matters: an earring is on the left ear
        head = Linear(128, PunkTraitTable.TraitCount);
        RegisterComponents();
    }

    public Tensor Features(Tensor images) => body.forward(images);

    public override Tensor forward(Tensor images)
    {
        using var features = Features(images);
        return head.forward(features);
    }
}

/// <summary>Judges generated punks with a <see cref="PunkFeatureNet"/> trained once per process, data folder and seed.</summary>
public sealed class PunkJudge
{
    private static readonly ConcurrentDictionary<string, Lazy<PunkJudge>> Cache = new(StringComparer.Ordinal);
    private readonly PunkFeatureNet network;
    private readonly Lock gate = new();

    private PunkJudge(PunkFeatureNet network, double testAccuracy, double testRecall, double testPrecision)
    {
        this.network = network;
        TestAccuracy = testAccuracy;
        TestRecall = testRecall;
        TestPrecision = testPrecision;
    }

    /// <summary>Mean per-trait accuracy of the judge on the held-out punks (most traits are absent on most punks, so this is high even for a weak judge).</summary>
    public double TestAccuracy { get; }

    /// <summary>The share of the held-out punks' traits the judge finds: how far a "not shown" verdict can be trusted.</summary>
    public double TestRecall { get; }

    /// <summary>The share of the judge's "shown" verdicts on held-out punks that are right.</summary>
    public double TestPrecision { get; }

    public static PunkJudge For(PunkDataset data, int seed, int epochs) =>
        Cache.GetOrAdd($"{data.Directory}|{seed}|{epochs}", _ => new Lazy<PunkJudge>(() => Train(data, seed, epochs))).Value;

    private static PunkJudge Train(PunkDataset data, int seed, int epochs)
    {
        TorchRuntime.EnsureInitialized();
        var network = Native.TorchRuntime.CreateSeeded(seed + 11, () => new PunkFeatureNet()); // outside the dispose scope: it lives as long as the judge
        using var scope = NewDisposeScope();
        var split = PunkSplit.Create(data.Traits, seed);
        var images = PunkImageTensors.ToModelInput(data.Tiles, PunkColorMode.Rgb);
        var labels = Trainers.GanTrainer.LabelMatrix(data.Traits);
        var trainIds = tensor(split.Train.Select(i => (long)i).ToArray());
        var testIds = tensor(split.Test.Select(i => (long)i).ToArray());
        var (x, y) = (images.index_select(0, trainIds), labels.index_select(0, trainIds));
        using var optimizer = new Optimizers.Adam(network.parameters(), 0.002);
        using var random = new Generator((ulong)seed + 11);
        var n = x.shape[0];
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            network.train();
            using var order = randperm(n, generator: random);
            for (long start = 0; start < n; start += 128)
            {
                using var step = NewDisposeScope();
                var batch = order.narrow(0, start, Math.Min(128, n - start));
                optimizer.zero_grad();
                var loss = functional.binary_cross_entropy_with_logits(network.forward(x.index_select(0, batch)), y.index_select(0, batch));
                loss.backward();
                optimizer.step();
            }
        }
        network.eval();
        using (no_grad())
        {
            var seen = network.forward(images.index_select(0, testIds)).gt(0);
            var present = labels.index_select(0, testIds).gt(0.5);
            var accuracy = seen.eq(present).to(ScalarType.Float32).mean().item<float>();
            var found = seen.logical_and(present).sum().item<long>();
            var recall = found / (double)Math.Max(1, present.sum().item<long>());
            var precision = found / (double)Math.Max(1, seen.sum().item<long>());
            return new PunkJudge(network, accuracy, recall, precision);
        }
    }

    /// <summary>Brings generated images to the judge's input: RGBA is composited onto the fixed background, every size is area-averaged to 24x24.</summary>
    public static Tensor ToJudgeInput(Tensor images)
    {
        using var scope = NewDisposeScope();
        var rgb = images;
        if (images.shape[1] == 4)
        {
            var bg = PunkImageTensors.Background;
            var background = tensor(new[] { bg.R / 255f, bg.G / 255f, bg.B / 255f }, device: images.device).view(1, 3, 1, 1);
            var alpha = images.narrow(1, 3, 1);
            rgb = images.narrow(1, 0, 3).mul(alpha).add(background.mul(alpha.neg().add(1f)));
        }
        var resized = rgb.shape[2] == PunkSheet.TileSize ? rgb : functional.adaptive_avg_pool2d(rgb, [PunkSheet.TileSize, PunkSheet.TileSize]);
        return resized.cpu().MoveToOuterDisposeScope();
    }

    private Tensor FeaturesOf(Tensor judgeInput)
    {
        lock (gate)
        {
            using var noGrad = no_grad();
            return network.Features(judgeInput).to(ScalarType.Float64);
        }
    }

    /// <summary>Fréchet distance between the judge's feature distributions of two sets of 24x24 RGB punks.</summary>
    public double FrechetDistance(Tensor real, Tensor generated)
    {
        using var scope = NewDisposeScope();
        var (a, b) = (FeaturesOf(real), FeaturesOf(generated));
        var (meanA, meanB) = (a.mean([0]), b.mean([0]));
        var covA = Covariance(a, meanA);
        var covB = Covariance(b, meanB);
        // Tr(sqrt(A B)) = Tr(sqrt(sqrt(A) B sqrt(A))), computed with symmetric eigendecompositions.
        var rootA = SymmetricSqrt(covA);
        var middle = rootA.matmul(covB).matmul(rootA);
        var traceRoot = linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum();
        var distance = meanA.sub(meanB).pow(2).sum() + covA.trace() + covB.trace() - (traceRoot * 2);
        return Math.Max(0, distance.item<double>());
    }

    private static Tensor Covariance(Tensor x, Tensor mean)
    {
        var centred = x - mean;
        return centred.T.matmul(centred) / Math.Max(1, x.shape[0] - 1);
    }

    private static Tensor SymmetricSqrt(Tensor matrix)
    {
        var (values, vectors) = linalg.eigh((matrix + matrix.T) / 2);
        return vectors.matmul(diag(values.clamp_min(0).sqrt())).matmul(vectors.T);
    }

    /// <summary>
    /// How well <paramref name="images"/> show the traits asked of them (label 1 in <paramref name="asked"/>): the share
    /// of images in which the judge finds every asked trait, and the share of all asked traits it finds.
    /// </summary>
    public TraitMatch MatchTraits(Tensor images, Tensor asked)
    {
        using var scope = NewDisposeScope();
        Tensor probabilities;
        lock (gate)
        {
            using var noGrad = no_grad();
            probabilities = network.forward(images).sigmoid();
        }
        var wanted = asked.cpu().gt(0.5);
        var seen = probabilities.ge(0.5);
        var allFound = seen.logical_or(wanted.logical_not()).all(1).to(ScalarType.Float32).mean().item<float>();
        var recall = seen.logical_and(wanted).sum().item<long>() / (double)Math.Max(1, wanted.sum().item<long>());
        return new TraitMatch(allFound, recall);
    }
}

/// <summary>What <see cref="PunkJudge.MatchTraits"/> measures: images showing every asked trait, and asked traits found.</summary>
public readonly record struct TraitMatch(double AllFound, double Recall);
