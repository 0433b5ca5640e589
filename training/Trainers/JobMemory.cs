using System.Globalization;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// How much memory a job will need on its worker, estimated from its options before it runs: the data it holds as float
/// tensors, plus forward and backward activations of one batch (three copies of every layer's output: activations,
/// gradients, intermediates), plus libtorch and the runtime. Deliberately on the generous side; a submit whose estimate
/// exceeds what the largest worker can give is refused with the estimate, rather than OOM-killing worker after worker.
/// </summary>
public static class JobMemory
{
    /// <summary>libtorch, the .NET runtime and the data set's raw files.</summary>
    private const long Base = 400L << 20;

    private const long Float = 4;

    /// <summary>Activations kept per layer output during a training step (outputs, gradients, intermediates).</summary>
    private const long Training = 3;

    /// <summary>The share of a worker's memory one job may plan to use.</summary>
    public const double WorkerShare = 0.75;

    public sealed record Estimate(long Bytes, string Explanation)
    {
        public override string ToString() => $"{Gigabytes(Bytes)} ({Explanation})";
    }

    public static string Gigabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0#} GB");

    public static Estimate Of(TraitTrainingOptions o)
    {
        long channels = PunkGrid.Training.Data.PunkImageTensors.Channels(o.Color);
        var sample = channels * 24 * 24 * Float;
        var activations = (32L * 23 * 23) + (64L * 22 * 22) + (128L * 21 * 21); // the three 2x2 convolutions' outputs
        var data = (10_000L * sample) + ((long)o.TrainSamples * (sample + 8));
        var batch = Math.Max(o.BatchSize, 500) * activations * Float * Training; // evaluation runs in chunks of 500
        return new(Base + data + batch,
            $"{o.TrainSamples} training samples of {channels}x24x24 floats, activations of batch {o.BatchSize}");
    }

    public static Estimate Of(VaeTrainingOptions o)
    {
        var punks = (long)(o.TrainLimit > 0 ? o.TrainLimit : 8000) + (o.TestLimit > 0 ? o.TestLimit : 2000);
        var data = punks * 3 * 128 * 128 * Float;
        var activations = 2L * ((32L * 128 * 128) + (64L * 64 * 64) + (128L * 32 * 32) + (256L * 16 * 16)); // encoder and decoder
        return new(Base + data + ((long)o.BatchSize * activations * Float * Training),
            $"{punks} punks of 3x128x128 floats, activations of batch {o.BatchSize}");
    }

    public static Estimate Of(GanTrainingOptions o)
    {
        var punks = (long)(o.TrainLimit > 0 ? o.TrainLimit : 8000);
        var size = (long)o.ImageSize;
        var data = punks * 4 * size * size * Float;
        var activations = size == Models.PunkGenerator.NativeImageSize
            ? 2L * ((256L * 6 * 6) + (128L * 12 * 12) + (64L * 24 * 24) + (4L * 24 * 24))
            : 2L * ((512L * 4 * 4) + (256L * 8 * 8) + (128L * 16 * 16) + (64L * 32 * 32) + (4L * 64 * 64)); // generator and discriminator
        return new(Base + data + ((long)o.BatchSize * activations * Float * Training * 2),
            $"{punks} punks of 4x{size}x{size} floats, activations of batch {o.BatchSize} through both networks");
    }

    public static Estimate Of(PokemonTrainingOptions o)
    {
        var pixels = (long)o.ImageSize * o.ImageSize;
        var data = 7_000L * 3 * pixels * Float;
        if (o.Backbone == PokemonTrainingOptions.ResNetImageNet)
        {
            // ResNet-18's layer outputs hold ~110 floats per input pixel. Whole network trained: a batch's, kept for the
            // backward pass. Otherwise the frozen layers run in batches of 64 without gradients, after which the pixels are
            // let go; last-stage keeps the stage-3 output of every image and of each training image's mirror image (256
            // channels at 1/16 of the side) and trains on a batch of it. Plus the ONNX file read (63 MB) and its weights.
            var resnet = pixels * 110;
            var stage3 = 256L * (pixels / 256);
            var (batch, what) = o.FineTune switch
            {
                PokemonTrainingOptions.FineTuneAll => (o.BatchSize * resnet * Float * Training, $"batch {o.BatchSize} through the whole network (trained)"),
                PokemonTrainingOptions.FineTuneLastStage => ((64L * resnet * Float) + (2 * 7_000L * stage3 * Float) + (o.BatchSize * stage3 * 8 * Float * Training),
                    $"batches of 64 (frozen stages), the stage-3 output of the images and mirror images, batch {o.BatchSize} through the last stage"),
                _ => (64L * resnet * Float, "batches of 64 (frozen)"),
            };
            return new(Base + data + batch + (200L << 20), $"up to 7000 images of 3x{o.ImageSize}x{o.ImageSize} floats, ResNet-18 activations of {what}");
        }
        var activations = pixels * 16 * 10; // MobileNetV3-Small: a 16-channel stem at full size and the blocks after it
        return new(Base + data + ((long)o.BatchSize * activations * Float * Training),
            $"up to 7000 images of 3x{o.ImageSize}x{o.ImageSize} floats, activations of batch {o.BatchSize}");
    }

    public static Estimate Of(NoopTrainingOptions o) =>
        new(Base + (3L * o.CheckpointBytes), $"3 copies of its {o.CheckpointBytes}-byte checkpoint");

    /// <summary>Refuses a job whose estimate exceeds <see cref="WorkerShare"/> of <paramref name="workerBytes"/>, naming both.</summary>
    public static void RequireFits(string kind, Estimate estimate, long workerBytes)
    {
        var allowed = (long)(workerBytes * WorkerShare);
        if (estimate.Bytes > allowed)
        {
            throw new ArgumentException(
                $"this {kind} job would need about {estimate}, more than a worker can give: the largest worker has {Gigabytes(workerBytes)} " +
                $"and a job may plan on {WorkerShare:P0} of it ({Gigabytes(allowed)}); lower the sample count, batch size or image size");
        }
    }
}
