using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Models;

/// <summary>The ImageNet ResNet-18 weights are not where the build puts them.</summary>
public sealed class PretrainedWeightsNotFoundException(string path) : FileNotFoundException(
    $"the ImageNet ResNet-18 weights are not at {path}: they come with the NuGet package {ImageNetResNet18.Package}, which " +
    $"restore fetches and the build copies beside the worker ({ImageNetResNet18.FolderName}/); rebuild the silo, or train with " +
    "backbone=mobilenetv3-small (from scratch, no weights needed)", path);

/// <summary>
/// ImageNet-pretrained weights for <see cref="ResNet18"/>, read from the ONNX model of the NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 (MIT; CNTK's ResNet-18) that restore brings and the build copies to
/// <c>DnnImageModels/</c> beside the application — never committed. Each convolution and batch norm of the graph is
/// matched, in graph order, to the model's, with its kernel, stride, padding and shape checked, so a different file is
/// refused rather than loaded wrong. The package's preprocessing model supplies the mean image: the network reads BGR
/// pixels in 0–255 less that mean.
/// </summary>
public static class ImageNetResNet18
{
    public const string Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1";
    public const string FolderName = "DnnImageModels";

    public static string DefaultDirectory => Path.Combine(AppContext.BaseDirectory, FolderName);

    public static string ModelPath(string directory) => Path.Combine(directory, "ResNet18Onnx", "ResNet18.onnx");

    public static string PreprocessingPath(string directory) => Path.Combine(directory, "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Digests = new(StringComparer.Ordinal);

    /// <summary>The SHA-256 of the weights and the mean image the backbone is loaded from (computed once per folder and process): what cached activations of it are keyed by.</summary>
    public static string WeightsDigest(string? directory = null) => Digests.GetOrAdd(directory ?? DefaultDirectory, folder =>
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var path in new[] { ModelPath(folder), PreprocessingPath(folder) })
        {
            hash.AppendData(File.ReadAllBytes(path));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    });

    /// <summary>Copies the ImageNet weights and mean image into <paramref name="model"/>'s backbone (its classifier is left as it is).</summary>
    public static void LoadInto(ResNet18 model, string? directory = null)
    {
        directory ??= DefaultDirectory;
        var (modelPath, preprocessingPath) = (ModelPath(directory), PreprocessingPath(directory));
        foreach (var path in new[] { modelPath, preprocessingPath })
        {
            if (!File.Exists(path))
            {
                throw new PretrainedWeightsNotFoundException(path);
            }
        }
        var graph = OnnxGraph.Read(modelPath);
        var convolutions = graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        var layers = model.Layers().ToList();
        if (convolutions.Count != layers.Count)
        {
            throw new OnnxFormatException($"{modelPath}: {convolutions.Count} convolutions, the ResNet-18 it should hold has {layers.Count}");
        }
        using (no_grad())
        {
            foreach (var ((conv, norm, kernel, stride, name), node) in layers.Zip(convolutions))
            {
                var expectedPads = kernel == 7 ? new long[] { 3, 3, 2, 2 } : kernel == 1 ? [0, 0, 0, 0] : stride == 2 ? [1, 1, 0, 0] : [1, 1, 1, 1];
                if (!node.Attribute("kernel_shape").SequenceEqual([kernel, kernel]) || !node.Attribute("strides").SequenceEqual([stride, stride])
                    || !node.Attribute("pads").SequenceEqual(expectedPads))
                {
                    throw new OnnxFormatException($"{modelPath}: the convolution for the {name} has kernel [{string.Join(", ", node.Attribute("kernel_shape"))}], " +
                        $"strides [{string.Join(", ", node.Attribute("strides"))}], pads [{string.Join(", ", node.Attribute("pads"))}]; expected {kernel}x{kernel}/{stride}, pads [{string.Join(", ", expectedPads)}]");
                }
                Copy(graph.Initializer(node.Inputs[1]), conv.weight!, $"{name} weight", modelPath);
                var batchNorm = graph.Nodes.SingleOrDefault(n => n.OpType == "BatchNormalization" && n.Inputs[0] == node.Outputs[0])
                    ?? throw new OnnxFormatException($"{modelPath}: no batch norm follows the convolution for the {name}");
                Copy(graph.Initializer(batchNorm.Inputs[1]), norm.weight!, $"{name} norm scale", modelPath);
                Copy(graph.Initializer(batchNorm.Inputs[2]), norm.bias!, $"{name} norm bias", modelPath);
                Copy(graph.Initializer(batchNorm.Inputs[3]), norm.running_mean!, $"{name} norm mean", modelPath);
                Copy(graph.Initializer(batchNorm.Inputs[4]), norm.running_var!, $"{name} norm variance", modelPath);
            }
        }
        var preprocessing = OnnxGraph.Read(preprocessingPath);
        var mean = preprocessing.Initializers.Values.SingleOrDefault(t => t.Dims.SequenceEqual([1L, 3, 224, 224]))
            ?? throw new OnnxFormatException($"{preprocessingPath}: no mean image [1, 3, 224, 224]");
        using (no_grad())
        {
            Copy(mean, model.MeanImage, "mean image", preprocessingPath);
        }
    }

    /// <summary>
    /// RGB images in [0, 1] [N, 3, H, W] as the network reads them: channels reversed to BGR, scaled to 0–255, the mean
    /// image (resized bilinearly when H, W are not 224) subtracted.
    /// </summary>
    public static Tensor Preprocess(Tensor rgb, Tensor meanImage)
    {
        using var scope = NewDisposeScope();
        var bgr = rgb.flip(1).mul(255);
        var mean = rgb.shape[2] == meanImage.shape[2] && rgb.shape[3] == meanImage.shape[3]
            ? meanImage
            : nn.functional.interpolate(meanImage, size: [rgb.shape[2], rgb.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);
        return bgr.sub_(mean.to(rgb.device)).MoveToOuterDisposeScope();
    }

    private static void Copy(OnnxTensor source, Tensor target, string name, string path)
    {
        if (!source.Dims.SequenceEqual(target.shape))
        {
            throw new OnnxFormatException($"{path}: the {name} has shape [{string.Join(", ", source.Dims)}], the model's is [{string.Join(", ", target.shape)}]");
        }
        using var values = tensor(source.Values).reshape(source.Dims);
        target.copy_(values);
    }
}
