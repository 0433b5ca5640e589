using StbImageSharp;

namespace PunkGrid.Training.Imaging;

/// <summary>
/// What an image handed in from outside (<c>predict</c>, the Pokémon set) may be before anything decodes it: at most
/// <see cref="MaxFileBytes"/> bytes and <see cref="MaxSide"/> pixels a side, read from the header alone, so an 8000x8000
/// PNG of a few hundred kilobytes costs a header read, not 250 MB of decoded pixels.
/// </summary>
public static class ImageLimits
{
    /// <summary>20 MiB (the CLI checks the same number, <c>InferenceLimits</c> in the contracts, before sending).</summary>
    public const int MaxFileBytes = 20 << 20;

    public const int MaxSide = 4096;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the size when the file or its header says too big, or no image.</summary>
    public static void Check(byte[] file)
    {
        if (file.Length > MaxFileBytes)
        {
            throw new ArgumentException($"the image file is {file.Length} bytes; at most {MaxFileBytes} are accepted");
        }
        ImageInfo? info;
        using (var stream = new MemoryStream(file, writable: false))
        {
            info = ImageInfo.FromStream(stream);
        }
        if (info is not { } header)
        {
            throw new ArgumentException($"the file is not a readable PNG/JPEG/BMP/GIF image ({file.Length} bytes)");
        }
        if (header.Width <= 0 || header.Height <= 0 || header.Width > MaxSide || header.Height > MaxSide)
        {
            throw new ArgumentException($"the image is {header.Width}x{header.Height}; at most {MaxSide}x{MaxSide} is accepted");
        }
    }
}
