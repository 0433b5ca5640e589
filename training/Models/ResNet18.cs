using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Models;

/// <summary>
/// ResNet-18 (He et al. 2016) laid out as the ImageNet model that <see cref="ImageNetResNet18"/> imports (CNTK's, shipped as
/// ONNX in Microsoft.ML.DnnImageFeaturizer.ResNet18): a 7x7/2 stem, 3x3/2 max-pool, four stages of basic blocks (64, 128,
/// 256, 512 channels; a 1x1/2 projection where a stage halves the size), global average pooling to 512 features and a
/// linear classifier. The package's network has three blocks in its last stage where the paper has two (22 convolutions,
/// not 20): the model is built as the file is. Strided convolutions and the max-pool pad one more pixel before than after (CNTK's "same"
/// padding, as the ONNX file states it), so imported weights see exactly the inputs they were trained on. The last stage
/// and the classifier form the <see cref="Head"/>: what <c>fine_tune=last-stage</c> trains on the earlier stages' outputs,
/// computed once (<see cref="BeforeLastStage"/>).
/// </summary>
public sealed class ResNet18 : Module<Tensor, Tensor>
{
    public const int FeatureCount = 512;

    /// <summary>Basic blocks per stage, as in the imported file.</summary>
    public static readonly int[] StageBlocks = [2, 2, 2, 3];

    private readonly Conv2d stem;
    private readonly BatchNorm2d stemNorm;
    private readonly ModuleList<BasicBlock> blocks = new();
    private readonly LastStageAndClassifier head;

    /// <summary>The ImageNet mean image [1, 3, 224, 224] (BGR, 0–255) the network's input is centred with: a buffer, saved with the weights.</summary>
    private readonly Tensor meanImage = zeros(1, 3, 224, 224);

    public ResNet18(int classes) : base(nameof(ResNet18))
    {
        stem = Conv2d(3, 64, kernel_size: 7, stride: 2, bias: false);
        stemNorm = BatchNorm2d(64);
        var channels = 64;
        foreach (var (width, stage) in new[] { 64, 128, 256 }.Select((w, i) => (w, i)))
        {
            for (var block = 0; block < StageBlocks[stage]; block++)
            {
                blocks.Add(new BasicBlock(channels, width, stage > 0 && block == 0 ? 2 : 1));
                channels = width;
            }
        }
        head = new LastStageAndClassifier(channels, classes);
        RegisterComponents();
    }

    /// <summary>The convolutions and their batch norms in the order the ONNX graph lists them (stem, then per block: projection, first, second).</summary>
    internal IEnumerable<(Conv2d Conv, BatchNorm2d Norm, int Kernel, int Stride, string Name)> Layers()
    {
        yield return (stem, stemNorm, 7, 2, "stem");
        var (stage, index) = (0, 0);
        foreach (var block in blocks.Concat(head.Blocks))
        {
            if (index == StageBlocks[stage])
            {
                (stage, index) = (stage + 1, 0);
            }
            index++;
            foreach (var layer in block.Layers($"stage {stage + 1} block {index}"))
            {
                yield return layer;
            }
        }
    }

    internal Tensor MeanImage => meanImage;

    /// <summary>
    /// The output of the stem and the first three stages for RGB images in [0, 1] [N, 3, H, W] (centred as
    /// <see cref="ImageNetResNet18.Preprocess"/> says): [N, 256, H/16, W/16], what the <see cref="Head"/> reads.
    /// </summary>
    public Tensor BeforeLastStage(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
        {
            throw new ArgumentException($"ResNet18 expects RGB images [N, 3, H, W], got [{string.Join(", ", images.shape)}]");
        }
        using var scope = NewDisposeScope();
        var input = ImageNetResNet18.Preprocess(images, meanImage);
        var x = functional.relu(stemNorm.forward(stem.forward(PadBeforeMore(input, 3, 2))));
        x = functional.max_pool2d(PadBeforeMore(x, 1, 0, double.NegativeInfinity), 3, 2);
        foreach (var block in blocks)
        {
            x = block.forward(x);
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The 512 pooled features of each RGB image in [0, 1] [N, 3, H, W].</summary>
    public Tensor Features(Tensor images)
    {
        using var activations = BeforeLastStage(images);
        return head.Features(activations);
    }

    public override Tensor forward(Tensor images)
    {
        using var activations = BeforeLastStage(images);
        return head.forward(activations);
    }

    /// <summary>The classifier alone, on features computed before (a frozen backbone).</summary>
    public Tensor Classify(Tensor features) => head.Classifier.forward(features);

    public Linear Classifier => head.Classifier;

    /// <summary>The last stage and the classifier: logits from <see cref="BeforeLastStage"/>'s output.</summary>
    public LastStageAndClassifier Head => head;

    private static Tensor PadBeforeMore(Tensor x, long before, long after, double value = 0) =>
        functional.pad(x, [before, after, before, after], PaddingModes.Constant, value);

    /// <summary>The last stage (three basic blocks to 512 channels at 1/32 of the input), global average pooling and the classifier.</summary>
    public sealed class LastStageAndClassifier : Module<Tensor, Tensor>
    {
        private readonly ModuleList<BasicBlock> blocks = new();
        private readonly Linear classifier;

        internal LastStageAndClassifier(int input, int classes) : base(nameof(LastStageAndClassifier))
        {
            for (var block = 0; block < StageBlocks[^1]; block++)
            {
                blocks.Add(new BasicBlock(block == 0 ? input : FeatureCount, FeatureCount, block == 0 ? 2 : 1));
            }
            classifier = Linear(FeatureCount, classes);
            RegisterComponents();
        }

        internal IEnumerable<BasicBlock> Blocks => blocks;

        public Linear Classifier => classifier;

        /// <summary>The pooled 512 features of the earlier stages' output [N, 256, h, w].</summary>
        public Tensor Features(Tensor activations)
        {
            using var scope = NewDisposeScope();
            var x = activations;
            foreach (var block in blocks)
            {
                x = block.forward(x);
            }
            return functional.adaptive_avg_pool2d(x, 1).flatten(1).MoveToOuterDisposeScope();
        }

        public override Tensor forward(Tensor activations)
        {
            using var features = Features(activations);
            return classifier.forward(features);
        }
    }

    internal sealed class BasicBlock : Module<Tensor, Tensor>
    {
        private readonly Conv2d first;
        private readonly BatchNorm2d firstNorm;
        private readonly Conv2d second;
        private readonly BatchNorm2d secondNorm;
        private readonly Conv2d? projection;
        private readonly BatchNorm2d? projectionNorm;
        private readonly int stride;

        public BasicBlock(int input, int output, int stride) : base(nameof(BasicBlock))
        {
            this.stride = stride;
            first = Conv2d(input, output, kernel_size: 3, stride: stride, padding: stride == 1 ? 1 : 0, bias: false);
            firstNorm = BatchNorm2d(output);
            second = Conv2d(output, output, kernel_size: 3, padding: 1, bias: false);
            secondNorm = BatchNorm2d(output);
            if (stride != 1 || input != output)
            {
                projection = Conv2d(input, output, kernel_size: 1, stride: stride, bias: false);
                projectionNorm = BatchNorm2d(output);
            }
            RegisterComponents();
        }

        public IEnumerable<(Conv2d, BatchNorm2d, int, int, string)> Layers(string name)
        {
            if (projection is not null)
            {
                yield return (projection, projectionNorm!, 1, stride, $"{name} projection");
            }
            yield return (first, firstNorm, 3, stride, $"{name} first conv");
            yield return (second, secondNorm, 3, 1, $"{name} second conv");
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var x = functional.relu(firstNorm.forward(first.forward(stride == 1 ? input : PadBeforeMore(input, 1, 0))));
            x = secondNorm.forward(second.forward(x));
            var shortcut = projection is null ? input : projectionNorm!.forward(projection.forward(input));
            return functional.relu(x.add_(shortcut)).MoveToOuterDisposeScope();
        }
    }
}
