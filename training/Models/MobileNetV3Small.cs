using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Models;

/// <summary>
/// MobileNetV3-Small (Howard et al. 2019, the torchvision layout) built from TorchSharp layers and trained from scratch:
/// a hard-swish stem, 11 inverted-residual blocks (expand 1x1 → depthwise kxk → squeeze-and-excite → project 1x1,
/// residual when shapes allow) with ReLU or hard-swish, a 576-channel 1x1 conv, global average pooling, and a
/// 1024-unit hard-swish classifier head with dropout 0.2.
/// </summary>
public sealed class MobileNetV3Small : Module<Tensor, Tensor>
{
    // kernel, expanded channels, output channels, squeeze-excite, hard-swish, stride
    private static readonly (int K, int Expand, int Out, bool Se, bool HardSwish, int Stride)[] Blocks =
    [
        (3, 16, 16, true, false, 2), (3, 72, 24, false, false, 2), (3, 88, 24, false, false, 1),
        (5, 96, 40, true, true, 2), (5, 240, 40, true, true, 1), (5, 240, 40, true, true, 1),
        (5, 120, 48, true, true, 1), (5, 144, 48, true, true, 1), (5, 288, 96, true, true, 2),
        (5, 576, 96, true, true, 1), (5, 576, 96, true, true, 1),
    ];

    private readonly Sequential features;
    private readonly Sequential classifier;

    public MobileNetV3Small(int classes) : base(nameof(MobileNetV3Small))
    {
        var layers = new List<Module<Tensor, Tensor>> { ConvNormAct(3, 16, 3, 2, 1, hardSwish: true) };
        var channels = 16;
        foreach (var b in Blocks)
        {
            layers.Add(new InvertedResidual(channels, b.K, b.Expand, b.Out, b.Se, b.HardSwish, b.Stride));
            channels = b.Out;
        }
        layers.Add(ConvNormAct(channels, 576, 1, 1, 1, hardSwish: true));
        layers.Add(AdaptiveAvgPool2d(1));
        layers.Add(Flatten());
        features = Sequential(layers);
        classifier = Sequential(Linear(576, 1024), Hardswish(), new GeneratorDropout(0.2), Linear(1024, classes));
        RegisterComponents();
    }

    internal static Sequential ConvNormAct(int input, int output, int kernel, int stride, int groups, bool hardSwish, bool activation = true)
    {
        var modules = new List<Module<Tensor, Tensor>>
        {
            Conv2d(input, output, kernel_size: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false),
            BatchNorm2d(output, eps: 0.001, momentum: 0.01),
        };
        if (activation)
        {
            modules.Add(hardSwish ? Hardswish() : ReLU());
        }
        return Sequential(modules);
    }

    public override Tensor forward(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
        {
            throw new ArgumentException($"MobileNetV3Small expects RGB input [N, 3, H, W], got [{string.Join(", ", images.shape)}]");
        }
        using var pooled = features.forward(images);
        return classifier.forward(pooled);
    }

    private sealed class InvertedResidual : Module<Tensor, Tensor>
    {
        private readonly Sequential block;
        private readonly bool residual;

        public InvertedResidual(int input, int kernel, int expand, int output, bool se, bool hardSwish, int stride) : base(nameof(InvertedResidual))
        {
            residual = stride == 1 && input == output;
            var layers = new List<Module<Tensor, Tensor>>();
            if (expand != input)
            {
                layers.Add(ConvNormAct(input, expand, 1, 1, 1, hardSwish));
            }
            layers.Add(ConvNormAct(expand, expand, kernel, stride, expand, hardSwish));
            if (se)
            {
                layers.Add(new SqueezeExcite(expand, Math.Max(8, ((expand / 4) + 4) / 8 * 8)));
            }
            layers.Add(ConvNormAct(expand, output, 1, 1, 1, hardSwish, activation: false));
            block = Sequential(layers);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var output = block.forward(input);
            return residual ? output.add_(input) : output;
        }
    }

    private sealed class SqueezeExcite : Module<Tensor, Tensor>
    {
        private readonly Conv2d reduce;
        private readonly Conv2d expand;

        public SqueezeExcite(int channels, int squeezed) : base(nameof(SqueezeExcite))
        {
            reduce = Conv2d(channels, squeezed, kernel_size: 1);
            expand = Conv2d(squeezed, channels, kernel_size: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var scale = functional.hardsigmoid(expand.forward(functional.relu(reduce.forward(functional.adaptive_avg_pool2d(input, 1)))));
            return input.mul(scale).MoveToOuterDisposeScope();
        }
    }
}
