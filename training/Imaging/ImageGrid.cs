using StbImageWriteSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Imaging;

/// <summary>Lays images out in a grid and encodes it as PNG: what the generators' artifacts are.</summary>
public static class ImageGrid
{
    /// <summary>
    /// Images <c>[N, C, H, W]</c> with values in [0, 1] (C = 1, 3 or 4) → a PNG of <paramref name="columns"/> columns,
    /// <paramref name="gap"/> pixels apart, each image scaled up by an integer <paramref name="scale"/> (nearest neighbour).
    /// </summary>
    public static byte[] ToPng(Tensor images, int columns, int scale = 1, int gap = 2)
    {
        if (images.dim() != 4 || images.shape[1] is not (1 or 3 or 4))
        {
            throw new ArgumentException($"expected images [N, C, H, W] with C = 1, 3 or 4, got [{string.Join(", ", images.shape)}]");
        }
        using var scope = NewDisposeScope();
        var n = (int)images.shape[0];
        var channels = (int)images.shape[1];
        var height = (int)images.shape[2] * scale;
        var width = (int)images.shape[3] * scale;
        columns = Math.Max(1, Math.Min(columns, n));
        var rows = (n + columns - 1) / columns;
        var gridWidth = (columns * width) + ((columns - 1) * gap);
        var gridHeight = (rows * height) + ((rows - 1) * gap);

        var scaled = scale == 1 ? images : images.repeat_interleave(scale, 2).repeat_interleave(scale, 3);
        var pixels = scaled.clamp(0, 1).mul(255).round().to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous().cpu().data<byte>().ToArray();

        var grid = new byte[gridWidth * gridHeight * 4];
        for (var i = 0; i < grid.Length; i += 4)
        {
            grid[i + 3] = 255; // opaque white gaps
            grid[i] = grid[i + 1] = grid[i + 2] = 255;
        }
        for (var k = 0; k < n; k++)
        {
            var left = k % columns * (width + gap);
            var top = k / columns * (height + gap);
            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    var source = ((((k * height) + y) * width) + x) * channels;
                    var target = ((((top + y) * gridWidth) + left + x) * 4);
                    if (channels == 1)
                    {
                        grid[target] = grid[target + 1] = grid[target + 2] = pixels[source];
                    }
                    else
                    {
                        grid[target] = pixels[source];
                        grid[target + 1] = pixels[source + 1];
                        grid[target + 2] = pixels[source + 2];
                        grid[target + 3] = channels == 4 ? pixels[source + 3] : (byte)255;
                    }
                }
            }
        }
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(grid, gridWidth, gridHeight, ColorComponents.RedGreenBlueAlpha, stream);
        return stream.ToArray();
    }
}
