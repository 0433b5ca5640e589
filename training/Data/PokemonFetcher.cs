using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StbImageSharp;
using StbImageWriteSharp;
using ReadComponents = StbImageSharp.ColorComponents;
using WriteComponents = StbImageWriteSharp.ColorComponents;

namespace PunkGrid.Training.Data;

/// <summary>
/// Where the Pokémon images come from: a Git tree listing (GitHub's <c>git/trees/REF?recursive=1</c> JSON) and the raw
/// file base the listed paths are appended to. Images are the blobs under <see cref="Folder"/> whose parent folder names
/// a first-generation Pokémon (<c>PokemonData/Abra/x.jpg</c>, <c>PokemonData/Train/Mr. Mime/y.png</c>); others are ignored.
/// </summary>
public sealed record PokemonSource(Uri TreeListing, Uri RawBase, string Folder = "PokemonData")
{
    /// <summary>The mirror named in <c>../shared/data/README.md</c>: github.com/LinkWentz/whos-that-pokemon, <c>PokemonData/</c>.</summary>
    public static PokemonSource Public { get; } = new(
        new Uri("https://api.github.com/repos/LinkWentz/whos-that-pokemon/git/trees/HEAD?recursive=1"),
        new Uri("https://raw.githubusercontent.com/LinkWentz/whos-that-pokemon/HEAD/"));
}

/// <summary>What a Pokémon fetch wrote: images and classes kept, and every listed image that was not, with the reason.</summary>
public sealed record PokemonFetchReport(string Folder, int Images, int Classes, IReadOnlyList<(string Path, string Reason)> Skipped);

/// <summary>
/// Rebuilds <c>pokemon/</c> (the seed's layout: <c>annotations.csv</c> + <c>images/&lt;name&gt;&lt;NNN&gt;.jpg</c>) from
/// the public source: every image decoded, transparency composited on white, the longer side reduced to at most
/// <see cref="MaxSide"/> px by area averaging, re-encoded as JPEG q90. Unreadable or missing files are skipped and
/// counted. The new folder is assembled beside the old one and swapped in only when complete, so an interrupted fetch
/// never leaves a half-written data set.
/// </summary>
public sealed partial class PokemonFetcher(HttpClient http, ILogger? logger = null)
{
    public const int MaxSide = 160;
    public const int JpegQuality = 90;
    private static readonly string[] ReadableExtensions = [".jpg", ".jpeg", ".png", ".gif", ".bmp"];
    private readonly ILogger log = logger ?? NullLogger.Instance;

    /// <summary>Files downloaded at once.</summary>
    public int Parallelism { get; init; } = 8;

    /// <returns>The report, or null when <c>pokemon/annotations.csv</c> exists and <paramref name="force"/> is false.</returns>
    public async Task<PokemonFetchReport?> FetchAsync(
        string dataDirectory, PokemonSource source, bool force = false,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default)
    {
        var target = Path.Combine(dataDirectory, "pokemon");
        if (File.Exists(PokemonDataset.AnnotationsPath(dataDirectory)) && !force)
        {
            LogKept(log, target);
            return null;
        }

        var listed = await ListImagesAsync(source, cancellation);
        var skipped = new ConcurrentBag<(string Path, string Reason)>(listed.Unreadable.Select(p => (p, "not an image format PunkGrid reads (jpg, png, gif, bmp)")));
        var encoded = new ConcurrentDictionary<string, byte[]>();
        var done = 0;
        await Parallel.ForEachAsync(listed.Images, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellation }, async (image, token) =>
        {
            try
            {
                var bytes = await DownloadAsync(new Uri(source.RawBase, EscapePath(image.Path)), token);
                encoded[image.Path] = Reencode(bytes);
            }
            catch (HttpRequestException ex)
            {
                skipped.Add((image.Path, ex.Message));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                skipped.Add((image.Path, $"not a readable image: {ex.Message}"));
            }
            progress?.Report((Interlocked.Increment(ref done), listed.Images.Count));
        });
        if (encoded.IsEmpty)
        {
            throw new DataFormatException($"none of the {listed.Images.Count} images listed by {source.TreeListing} could be downloaded and read");
        }

        var staging = $"{target}.{Guid.NewGuid():N}.partial";
        try
        {
            Directory.CreateDirectory(Path.Combine(staging, "images"));
            var annotations = new StringBuilder("img_name,pokemon_id\n");
            var kept = listed.Images.Where(i => encoded.ContainsKey(i.Path)).ToList();
            foreach (var cls in kept.GroupBy(i => i.PokedexNumber).OrderBy(g => g.Key))
            {
                var index = 0;
                foreach (var image in cls.OrderBy(i => i.Path, StringComparer.Ordinal))
                {
                    var name = $"{PokemonNames.Key(PokemonNames.NameOf(cls.Key))}{++index:000}.jpg";
                    await File.WriteAllBytesAsync(Path.Combine(staging, "images", name), encoded[image.Path], cancellation);
                    annotations.Append(CultureInfo.InvariantCulture, $"{name},{cls.Key}\n");
                }
            }
            await File.WriteAllTextAsync(Path.Combine(staging, "annotations.csv"), annotations.ToString(), cancellation);

            var previous = Directory.Exists(target) ? $"{target}.{Guid.NewGuid():N}.old" : null;
            if (previous is not null)
            {
                Directory.Move(target, previous);
            }
            Directory.Move(staging, target);
            if (previous is not null)
            {
                Directory.Delete(previous, recursive: true);
            }
            var report = new PokemonFetchReport(target, kept.Count, kept.Select(i => i.PokedexNumber).Distinct().Count(),
                [.. skipped.OrderBy(s => s.Path, StringComparer.Ordinal)]);
            LogFetched(log, report.Images, report.Classes, target, report.Skipped.Count);
            return report;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private sealed record ListedImage(string Path, int PokedexNumber);

    private async Task<(List<ListedImage> Images, List<string> Unreadable)> ListImagesAsync(PokemonSource source, CancellationToken cancellation)
    {
        var listing = await DownloadAsync(source.TreeListing, cancellation);
        JsonElement tree;
        try
        {
            using var document = JsonDocument.Parse(listing);
            if (document.RootElement.TryGetProperty("truncated", out var truncated) && truncated.ValueKind == JsonValueKind.True)
            {
                LogTruncated(log, source.TreeListing);
            }
            tree = document.RootElement.GetProperty("tree").Clone();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new DataFormatException($"{source.TreeListing} is not a Git tree listing (expected JSON with a 'tree' array): {ex.Message}");
        }
        var images = new List<ListedImage>();
        var unreadable = new List<string>();
        var prefix = source.Folder.TrimEnd('/') + "/";
        foreach (var entry in tree.EnumerateArray())
        {
            if (entry.GetProperty("type").GetString() != "blob" || entry.GetProperty("path").GetString() is not { } path || !path.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }
            var segments = path.Split('/');
            if (segments.Length < 3 || PokemonNames.NumberOf(segments[^2]) is not { } number)
            {
                continue; // not inside a Pokémon's folder (sprites, read-mes)
            }
            if (ReadableExtensions.Contains(Path.GetExtension(path).ToLowerInvariant()))
            {
                images.Add(new ListedImage(path, number));
            }
            else
            {
                unreadable.Add(path);
            }
        }
        if (images.Count == 0)
        {
            throw new DataFormatException($"{source.TreeListing} lists no images under {prefix}<Pokémon name>/");
        }
        return (images, unreadable);
    }

    private async Task<byte[]> DownloadAsync(Uri uri, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.UserAgent.ParseAdd("PunkGrid-data-fetch/1.0"); // GitHub's API refuses requests without one
        using var response = await http.SendAsync(request, cancellation);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"downloading {uri} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        return await response.Content.ReadAsByteArrayAsync(cancellation);
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    /// <summary>Decodes any readable image, composites it on white, reduces the longer side to <see cref="MaxSide"/>, encodes JPEG q90.</summary>
    public static byte[] Reencode(byte[] file)
    {
        var decoded = ImageResult.FromMemory(file, ReadComponents.RedGreenBlueAlpha);
        var (width, height) = (decoded.Width, decoded.Height);
        var rgb = new float[width * height * 3];
        for (var i = 0; i < width * height; i++)
        {
            var alpha = decoded.Data[(i * 4) + 3] / 255f;
            for (var c = 0; c < 3; c++)
            {
                rgb[(i * 3) + c] = (decoded.Data[(i * 4) + c] * alpha) + (255f * (1 - alpha));
            }
        }
        var scale = Math.Min(1.0, MaxSide / (double)Math.Max(width, height));
        var (outWidth, outHeight) = (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
        var output = new byte[outWidth * outHeight * 3];
        for (var y = 0; y < outHeight; y++)
        {
            var (y0, y1) = (y * height / outHeight, Math.Max((y * height / outHeight) + 1, (y + 1) * height / outHeight));
            for (var x = 0; x < outWidth; x++)
            {
                var (x0, x1) = (x * width / outWidth, Math.Max((x * width / outWidth) + 1, (x + 1) * width / outWidth));
                for (var c = 0; c < 3; c++)
                {
                    float sum = 0;
                    for (var sy = y0; sy < y1; sy++)
                    {
                        for (var sx = x0; sx < x1; sx++)
                        {
                            sum += rgb[(((sy * width) + sx) * 3) + c];
                        }
                    }
                    output[(((y * outWidth) + x) * 3) + c] = (byte)Math.Clamp(Math.Round(sum / ((y1 - y0) * (x1 - x0))), 0, 255);
                }
            }
        }
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(output, outWidth, outHeight, WriteComponents.RedGreenBlue, stream, JpegQuality);
        return stream.ToArray();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Path} exists; keeping it (use --force to download again)")]
    private static partial void LogKept(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetched {Images} Pokémon images of {Classes} classes into {Folder}; {Skipped} skipped")]
    private static partial void LogFetched(ILogger logger, int images, int classes, string folder, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Listing} is truncated; only the files it lists are fetched")]
    private static partial void LogTruncated(ILogger logger, Uri listing);
}
