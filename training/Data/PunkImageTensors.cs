using PunkGrid.Training.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>How punks are fed to a model: one grayscale channel (the seed) or three RGB channels.</summary>
public enum PunkColorMode
{
    Gray,
    Rgb,
}

/// <summary>Turns RGBA punk tiles into model inputs: transparent background composited onto one fixed colour, scaled to [0, 1].</summary>
public static class PunkImageTensors
{
    /// <summary>
    /// The fixed background: #638596, the blue-grey CryptoPunks are shown on. Compositing onto one colour
    /// (instead of dropping alpha) keeps the silhouette visible and makes gray and rgb inputs agree.
    /// </summary>
    public static readonly (byte R, byte G, byte B) Background = (0x63, 0x85, 0x96);

    /// <summary>ITU-R BT.601 luma weights, as PIL's <c>convert('L')</c> uses.</summary>
    private static readonly float[] LumaWeights = [0.299f, 0.587f, 0.114f];

    public static int Channels(PunkColorMode mode) => mode == PunkColorMode.Gray ? 1 : 3;

    public static PunkColorMode ParseColorMode(string value) => value.Trim().ToLowerInvariant() switch
    {
        "gray" or "grey" or "grayscale" => PunkColorMode.Gray,
        "rgb" or "color" or "colour" => PunkColorMode.Rgb,
        _ => throw new ArgumentException($"unknown colour mode '{value}'; allowed: gray, rgb"),
    };

    /// <summary>RGBA uint8 <c>[N, H, W, 4]</c> → float32 <c>[N, C, H, W]</c> in [0, 1], C = 1 (gray) or 3 (rgb).</summary>
    public static Tensor ToModelInput(Tensor rgbaTiles, PunkColorMode mode)
    {
        TorchRuntime.EnsureInitialized();
        if (rgbaTiles.dim() != 4 || rgbaTiles.shape[3] != 4)
        {
            throw new ArgumentException($"expected RGBA tiles of shape [N, H, W, 4], got [{string.Join(", ", rgbaTiles.shape)}]");
        }
        using var scope = NewDisposeScope();
        var pixels = rgbaTiles.permute(0, 3, 1, 2).to(ScalarType.Float32).div(255f);
        var rgb = pixels.narrow(1, 0, 3);
        var alpha = pixels.narrow(1, 3, 1);
        var background = tensor(new[] { Background.R / 255f, Background.G / 255f, Background.B / 255f }).view(1, 3, 1, 1);
        var composited = rgb.mul(alpha).add(background.mul(alpha.neg().add(1f)));
        var result = mode == PunkColorMode.Gray
            ? composited.mul(tensor(LumaWeights).view(1, 3, 1, 1)).sum(1, keepdim: true)
            : composited;
        return result.contiguous().MoveToOuterDisposeScope();
    }
}
