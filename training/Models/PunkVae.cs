using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PunkGrid.Training.Models;

/// <summary>
/// The seed's PunkVAE on 128x128x3 punks. Encoder: 4 × (conv 3x3 → ReLU → 2x2 max-pool → dropout 0.38) with 32, 64,
/// 128, 256 filters (128 → 8 px), then linear layers to the mean and log-variance of a 256-d latent. Decoder: linear to
/// 256x8x8, then 4 transposed convolutions 3x3 (stride 2) with 128, 64, 32, 3 filters (8 → 128 px), ReLU and dropout
/// 0.36 after the first three, sigmoid at the end. Where the write-up is silent (padding, strides, the dense layers
/// around the latent) these are our choices.
/// </summary>
public sealed class PunkVae : Module<Tensor, (Tensor Reconstruction, Tensor Mean, Tensor LogVariance)>
{
    public const int ImageSize = 128;
    public const int Latent = 256;
    private const int Bottleneck = 256 * 8 * 8;

    private readonly Sequential encoder;
    private readonly Linear toMean;
    private readonly Linear toLogVariance;
    private readonly Linear fromLatent;
    private readonly Sequential decoder;

    public PunkVae(double encoderDropout = 0.38, double decoderDropout = 0.36) : base(nameof(PunkVae))
    {
        encoder = Sequential(
            EncoderBlock(3, 32, encoderDropout), EncoderBlock(32, 64, encoderDropout),
            EncoderBlock(64, 128, encoderDropout), EncoderBlock(128, 256, encoderDropout),
            Flatten());
        toMean = Linear(Bottleneck, Latent);
        toLogVariance = Linear(Bottleneck, Latent);
        fromLatent = Linear(Latent, Bottleneck);
        decoder = Sequential(
            DecoderBlock(256, 128, decoderDropout), DecoderBlock(128, 64, decoderDropout), DecoderBlock(64, 32, decoderDropout),
            ConvTranspose2d(32, 3, kernel_size: 3, stride: 2, padding: 1, output_padding: 1),
            Sigmoid());
        RegisterComponents();
    }

    private static Sequential EncoderBlock(int input, int output, double dropout) =>
        Sequential(Conv2d(input, output, kernel_size: 3, padding: 1), ReLU(), MaxPool2d(2), new GeneratorDropout(dropout));

    private static Sequential DecoderBlock(int input, int output, double dropout) =>
        Sequential(ConvTranspose2d(input, output, kernel_size: 3, stride: 2, padding: 1, output_padding: 1), ReLU(), new GeneratorDropout(dropout));

    public (Tensor Mean, Tensor LogVariance) Encode(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3 || images.shape[2] != ImageSize || images.shape[3] != ImageSize)
        {
            throw new ArgumentException($"PunkVae expects input of shape [N, 3, {ImageSize}, {ImageSize}], got [{string.Join(", ", images.shape)}]");
        }
        using var features = encoder.forward(images);
        return (toMean.forward(features), toLogVariance.forward(features));
    }

    /// <summary>Latents <c>[N, 256]</c> → images <c>[N, 3, 128, 128]</c> in [0, 1].</summary>
    public Tensor Decode(Tensor latent)
    {
        using var scope = NewDisposeScope();
        return decoder.forward(fromLatent.forward(latent).view(-1, 256, 8, 8)).MoveToOuterDisposeScope();
    }

    public override (Tensor Reconstruction, Tensor Mean, Tensor LogVariance) forward(Tensor images)
    {
        var (mean, logVariance) = Encode(images);
        using var scope = NewDisposeScope();
        var latent = training ? mean + (randn_like(mean) * (logVariance * 0.5).exp()) : mean;
        return (Decode(latent).MoveToOuterDisposeScope(), mean, logVariance);
    }

    /// <summary>Per-image mean squared error summed over pixels, and KL divergence to N(0, I), both averaged over the batch.</summary>
    public static (Tensor Mse, Tensor Kl) Losses(Tensor reconstruction, Tensor images, Tensor mean, Tensor logVariance)
    {
        var n = images.shape[0];
        var mse = functional.mse_loss(reconstruction, images, Reduction.Sum).div(n);
        var kl = (logVariance + 1 - mean.pow(2) - logVariance.exp()).sum().mul(-0.5).div(n);
        return (mse, kl);
    }
}
