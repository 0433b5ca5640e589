using System.Globalization;
using PunkGrid.Training.Native;
using StbImageSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Data;

/// <summary>One labelled image of the Pokémon set: its file, its national Pokédex number and the class name from the file name.</summary>
public sealed record PokemonImage(string File, int PokedexNumber, string ClassName);

/// <summary>
/// The Pokémon classifier's data in the write-up's layout: <c>annotations.csv</c> (<c>img_name,pokemon_id</c>,
/// ids 1..151) and <c>images/</c>. Images of any size and format StbImage reads are padded to a square on white and
/// resized to <c>size</c>x<c>size</c> RGB; files that are missing or do not decode are skipped and reported with the
/// reason. Each image also gets a 64-bit difference hash (dHash) for finding near-duplicates.
/// </summary>
public sealed class PokemonDataset
{
    private PokemonDataset(IReadOnlyList<PokemonImage> images, IReadOnlyList<(string File, string Reason)> skipped, Tensor pixels, ulong[] hashes)
    {
        Images = images;
        Skipped = skipped;
        Pixels = pixels;
        Hashes = hashes;
        Classes = images.Select(i => i.PokedexNumber).Distinct().Order().ToList();
    }

    public IReadOnlyList<PokemonImage> Images { get; }

    /// <summary>Files named in the annotations that could not be used, and why.</summary>
    public IReadOnlyList<(string File, string Reason)> Skipped { get; }

    /// <summary>float32 <c>[N, 3, size, size]</c> in [0, 1], in <see cref="Images"/> order.</summary>
    public Tensor Pixels { get; }

    /// <summary>dHash of each image: 8 rows of 9 gray columns, one bit per "left is brighter than right".</summary>
    public ulong[] Hashes { get; }

    /// <summary>The Pokédex numbers present, ascending; a model's class index is the position in this list.</summary>
    public IReadOnlyList<int> Classes { get; }

    public static string AnnotationsPath(string dataDirectory) => Path.Combine(dataDirectory, "pokemon", "annotations.csv");

    /// <param name="dataDirectory">The data folder (holding <c>pokemon/</c>).</param>
    /// <param name="size">Side of the square model input.</param>
    /// <param name="classLimit">Use only the first N Pokédex numbers present (0: all); for tests and quick runs.</param>
    public static PokemonDataset Load(string dataDirectory, int size, int classLimit = 0)
    {
        TorchRuntime.EnsureInitialized();
        var annotations = AnnotationsPath(dataDirectory);
        if (!File.Exists(annotations))
        {
            throw new DataFormatException($"Pokémon annotations not found: {annotations} (expected img_name,pokemon_id rows; set {DataDirectory.EnvironmentVariable})");
        }
        var rows = ParseAnnotations(File.ReadLines(annotations), annotations);
        if (classLimit > 0)
        {
            var kept = rows.Select(r => r.PokedexNumber).Distinct().Order().Take(classLimit).ToHashSet();
            rows = rows.Where(r => kept.Contains(r.PokedexNumber)).ToList();
        }
        var images = new List<PokemonImage>();
        var skipped = new List<(string, string)>();
        var hashes = new List<ulong>();
        var folder = Path.Combine(dataDirectory, "pokemon", "images");
        // Each image is written into its row of one tensor and its decoded original let go at once: keeping every
        // original until the end (with the splits copied from it) took a 224x224 run to a peak of 19 GB.
        var pixels = zeros(rows.Count, 3, size, size);
        foreach (var row in rows)
        {
            var path = Path.Combine(folder, row.File);
            if (!File.Exists(path))
            {
                skipped.Add((row.File, "file not found"));
                continue;
            }
            ImageResult decoded;
            try
            {
                using var stream = File.OpenRead(path);
                decoded = ImageResult.FromStream(stream, ColorComponents.RedGreenBlue);
            }
            catch (Exception ex)
            {
                skipped.Add((row.File, $"not a readable image: {ex.Message}"));
                continue;
            }
            using (NewDisposeScope())
            {
                var square = PadToSquare(tensor(decoded.Data, [decoded.Height, decoded.Width, 3], ScalarType.Byte));
                pixels[images.Count].copy_(Resize(square, size));
                hashes.Add(DifferenceHash(square));
            }
            images.Add(row);
        }
        if (images.Count == 0)
        {
            pixels.Dispose();
            throw new DataFormatException($"{annotations}: none of its {rows.Count} images could be read ({skipped.FirstOrDefault().Item2})");
        }
        return new PokemonDataset(images, skipped, images.Count == rows.Count ? pixels : pixels.narrow(0, 0, images.Count), [.. hashes]);
    }

    public static List<PokemonImage> ParseAnnotations(IEnumerable<string> lines, string source)
    {
        var result = new List<PokemonImage>();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (number == 1)
            {
                if (line.Trim() != "img_name,pokemon_id")
                {
                    throw new DataFormatException($"{source}:1: expected the header 'img_name,pokemon_id', found '{line}'");
                }
                continue;
            }
            if (line.Trim().Length == 0)
            {
                continue;
            }
            var fields = line.Split(',');
            if (fields.Length != 2)
            {
                throw new DataFormatException($"{source}:{number}: expected 2 fields (img_name,pokemon_id), found {fields.Length}: '{line}'");
            }
            if (!int.TryParse(fields[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id is < 1 or > 151)
            {
                throw new DataFormatException($"{source}:{number}: pokemon_id '{fields[1].Trim()}' is not a first-generation Pokédex number (1..151)");
            }
            var file = fields[0].Trim();
            if (file.Length == 0 || file.Contains('/') || file.Contains('\\'))
            {
                throw new DataFormatException($"{source}:{number}: img_name '{file}' must be a plain file name in images/");
            }
            result.Add(new PokemonImage(file, id, new string(file.TakeWhile(char.IsLetter).ToArray())));
        }
        return result;
    }

    /// <summary>
    /// One image file as the classifier sees it: decoded (any format StbImage reads), padded to a square on white,
    /// resized to <paramref name="size"/>: float <c>[3, size, size]</c>. Throws <see cref="ArgumentException"/> naming the problem.
    /// </summary>
    public static Tensor Prepare(byte[] file, int size)
    {
        PunkGrid.Training.Imaging.ImageLimits.Check(file);
        TorchRuntime.EnsureInitialized();
        ImageResult decoded;
        try
        {
            decoded = ImageResult.FromMemory(file, ColorComponents.RedGreenBlue);
        }
        catch (Exception ex)
        {
            throw new ArgumentException($"the image is not a readable JPEG/PNG/BMP/GIF ({file.Length} bytes): {ex.Message}", ex);
        }
        using var scope = NewDisposeScope();
        var square = PadToSquare(tensor(decoded.Data, [decoded.Height, decoded.Width, 3], ScalarType.Byte));
        return Resize(square, size).MoveToOuterDisposeScope();
    }

    /// <summary>HWC uint8 → CHW float in [0, 1], padded with white to a square (the set composites transparency on white).</summary>
    private static Tensor PadToSquare(Tensor hwc)
    {
        var image = hwc.permute(2, 0, 1).to(ScalarType.Float32).div(255f);
        var (h, w) = (image.shape[1], image.shape[2]);
        var side = Math.Max(h, w);
        var canvas = ones(3, side, side);
        canvas.narrow(1, (side - h) / 2, h).narrow(2, (side - w) / 2, w).copy_(image);
        return canvas;
    }

    private static Tensor Resize(Tensor chw, int size) =>
        chw.shape[1] >= size
            ? nn.functional.adaptive_avg_pool2d(chw.unsqueeze(0), [size, size]).squeeze(0)
            : nn.functional.interpolate(chw.unsqueeze(0), [size, size], mode: InterpolationMode.Bilinear, align_corners: false).squeeze(0);

    /// <summary>dHash: gray image area-averaged to 8 rows x 9 columns; bit set where a pixel is brighter than its right neighbour.</summary>
    public static ulong DifferenceHash(Tensor chw)
    {
        using var scope = NewDisposeScope();
        var gray = chw.mul(tensor(new[] { 0.299f, 0.587f, 0.114f }).view(3, 1, 1)).sum(0, keepdim: true);
        var small = nn.functional.adaptive_avg_pool2d(gray.unsqueeze(0), [8, 9]).view(8, 9).data<float>().ToArray();
        ulong hash = 0;
        for (var row = 0; row < 8; row++)
        {
            for (var col = 0; col < 8; col++)
            {
                hash = (hash << 1) | (small[(row * 9) + col] > small[(row * 9) + col + 1] ? 1UL : 0UL);
            }
        }
        return hash;
    }
}
