using PunkGrid.Training.Native;
using StbImageSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>
/// The 10,000 punks cropped from <c>punks.png</c>: a 2400x2400 RGBA sheet, 100x100 tiles of 24x24,
/// punk id = row*100 + col.
/// </summary>
public static class PunkSheet
{
    public const int TileSize = 24;
    public const int TilesPerRow = 100;
    public const int SheetSize = TileSize * TilesPerRow;

    /// <summary>Decodes the sheet into a uint8 tensor <c>[10000, 24, 24, 4]</c> (RGBA), indexed by punk id.</summary>
    public static Tensor LoadTiles(string path)
    {
        if (!File.Exists(path))
        {
            throw new DataFormatException(
                $"punk sheet not found: {path} (expected punks.png, {SheetSize}x{SheetSize} RGBA; set {DataDirectory.EnvironmentVariable} or run `data fetch`)");
        }
        ImageResult image;
        try
        {
            using var stream = File.OpenRead(path);
            image = ImageResult.FromStream(stream, ColorComponents.RedGreenBlueAlpha);
        }
        catch (Exception ex) when (ex is not DataFormatException)
        {
            throw new DataFormatException($"punk sheet {path} is not a readable PNG: {ex.Message}", ex);
        }
        if (image.Width != SheetSize || image.Height != SheetSize)
        {
            throw new DataFormatException(
                $"punk sheet {path} is {image.Width}x{image.Height}; expected {SheetSize}x{SheetSize} (100x100 tiles of 24x24)");
        }
        return CropTiles(image.Data);
    }

    /// <summary>Cuts a 2400x2400 RGBA pixel buffer into tiles with tensor ops: <c>[100,24,100,24,4] → [10000,24,24,4]</c>.</summary>
    public static Tensor CropTiles(byte[] rgbaSheet)
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        var sheet = tensor(rgbaSheet, [TilesPerRow, TileSize, TilesPerRow, TileSize, 4], ScalarType.Byte);
        return sheet.permute(0, 2, 1, 3, 4)
            .reshape(TilesPerRow * TilesPerRow, TileSize, TileSize, 4)
            .contiguous()
            .MoveToOuterDisposeScope();
    }
}
