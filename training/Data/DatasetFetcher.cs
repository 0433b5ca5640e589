using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PunkGrid.Training.Data;

/// <summary>One file of a dataset and the public address it is downloaded from.</summary>
public sealed record DatasetFile(string RelativePath, Uri Source);

/// <summary>
/// Downloads the datasets from their public sources into a data folder with the layout the trainers read
/// (see <c>../shared/data/README.md</c>). Each file is written to a temporary name, checked, then renamed,
/// so an interrupted or bad download never replaces a good file. Existing files are kept unless forced.
/// </summary>
public sealed partial class DatasetFetcher(HttpClient http, ILogger? logger = null)
{
    private readonly ILogger log = logger ?? NullLogger.Instance;

    /// <summary>The datasets <c>data fetch</c> knows: the punks (three files) and the Pokémon set (see <see cref="PokemonFetcher"/>).</summary>
    public static IReadOnlyList<string> Datasets { get; } = ["cryptopunks", "pokemon"];

    public static IReadOnlyList<DatasetFile> CryptoPunksFiles { get; } =
    [
        new("cryptopunks/punks.png", new Uri("https://raw.githubusercontent.com/larvalabs/cryptopunks/master/punks.png")),
        new("cryptopunks/cryptopunks-classic.csv", new Uri("https://raw.githubusercontent.com/cryptopunksnotdead/punks.attributes/master/original/cryptopunks-classic.csv")),
        new("cryptopunks/cryptopunks.csv", new Uri("https://raw.githubusercontent.com/cryptopunksnotdead/punks.attributes/master/original/cryptopunks.csv")),
    ];

    public static IReadOnlyList<DatasetFile> FilesOf(string dataset) => dataset.Trim().ToLowerInvariant() switch
    {
        "cryptopunks" => CryptoPunksFiles,
        "pokemon" => throw new ArgumentException("the Pokémon set is not a fixed list of files; fetch it with PokemonFetcher"),
        _ => throw new ArgumentException($"unknown dataset '{dataset}'; allowed: {string.Join(", ", Datasets)}"),
    };

    /// <summary>Fetches <paramref name="files"/> into <paramref name="dataDirectory"/>; returns the paths written (skipped files are not).</summary>
    public async Task<IReadOnlyList<string>> FetchAsync(
        string dataDirectory,
        IReadOnlyList<DatasetFile> files,
        bool force = false,
        IProgress<(DatasetFile File, long Bytes, long? Total)>? progress = null,
        CancellationToken cancellation = default)
    {
        var written = new List<string>();
        foreach (var file in files)
        {
            var target = Path.Combine(dataDirectory, file.RelativePath);
            if (File.Exists(target) && !force)
            {
                LogKept(log, target);
                continue;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var temporary = $"{target}.{Guid.NewGuid():N}.download";
            try
            {
                using (var response = await http.GetAsync(file.Source, HttpCompletionOption.ResponseHeadersRead, cancellation))
                {
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new HttpRequestException($"downloading {file.Source} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
                    }
                    var total = response.Content.Headers.ContentLength;
                    await using var source = await response.Content.ReadAsStreamAsync(cancellation);
                    await using var sink = File.Create(temporary);
                    var buffer = new byte[81920];
                    long bytes = 0;
                    int read;
                    while ((read = await source.ReadAsync(buffer, cancellation)) > 0)
                    {
                        await sink.WriteAsync(buffer.AsMemory(0, read), cancellation);
                        bytes += read;
                        progress?.Report((file, bytes, total));
                    }
                }
                Validate(file, temporary);
                File.Move(temporary, target, overwrite: true);
                written.Add(target);
                LogFetched(log, file.Source, target);
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        return written;
    }

    /// <summary>Checks a downloaded file is what the trainers expect before it replaces anything.</summary>
    private static void Validate(DatasetFile file, string path)
    {
        switch (Path.GetFileName(file.RelativePath))
        {
            case "punks.png":
                PunkSheet.LoadTiles(path).Dispose();
                break;
            case "cryptopunks-classic.csv":
                PunkTraitTable.Load(path);
                break;
            default:
                if (new FileInfo(path).Length == 0)
                {
                    throw new DataFormatException($"{file.Source} returned an empty file");
                }
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Path} exists; keeping it (use --force to download again)")]
    private static partial void LogKept(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetched {Source} → {Path}")]
    private static partial void LogFetched(ILogger logger, Uri source, string path);
}
