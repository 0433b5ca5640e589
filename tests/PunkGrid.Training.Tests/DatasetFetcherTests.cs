using System.Net;
using PunkGrid.Tests.Shared;
using PunkGrid.Training.Data;

namespace PunkGrid.Training.Tests;

/// <summary>Fetches from a real HTTP server on loopback that serves files from a folder (no internet needed).</summary>
public sealed class DatasetFetcherTests : IDisposable
{
    private readonly string served = TestData.NewTemporaryDirectory();
    private readonly LoopbackHttpServer server;
    private readonly Uri baseUri;

    public DatasetFetcherTests()
    {
        server = new LoopbackHttpServer(ServeFileAsync);
        baseUri = server.BaseUri;
    }

    private async Task ServeFileAsync(HttpListenerContext context)
    {
        var path = Path.Combine(served, Uri.UnescapeDataString(context.Request.Url!.AbsolutePath.TrimStart('/')));
        if (File.Exists(path))
        {
            var bytes = await File.ReadAllBytesAsync(path);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
        }
        else
        {
            context.Response.StatusCode = 404;
        }
    }

    private IReadOnlyList<DatasetFile> Files() =>
    [
        new("cryptopunks/punks.png", new Uri(baseUri, "punks.png")),
        new("cryptopunks/cryptopunks-classic.csv", new Uri(baseUri, "cryptopunks-classic.csv")),
    ];

    [Fact]
    public async Task Files_are_fetched_into_the_expected_layout_and_kept_on_a_second_fetch()
    {
        File.Copy(DataDirectory.PunkSheetPath(TestData.Directory), Path.Combine(served, "punks.png"));
        File.Copy(DataDirectory.ClassicTraitsPath(TestData.Directory), Path.Combine(served, "cryptopunks-classic.csv"));
        var destination = TestData.NewTemporaryDirectory();
        using var http = new HttpClient();
        var fetcher = new DatasetFetcher(http);

        var written = await fetcher.FetchAsync(destination, Files());
        Assert.Equal(2, written.Count);
        Assert.Equal(File.ReadAllBytes(DataDirectory.PunkSheetPath(TestData.Directory)), File.ReadAllBytes(DataDirectory.PunkSheetPath(destination)));
        Assert.Equal(6039, PunkTraitTable.Load(DataDirectory.ClassicTraitsPath(destination)).CountOf("Male"));

        Assert.Empty(await fetcher.FetchAsync(destination, Files()));
        Assert.Equal(2, (await fetcher.FetchAsync(destination, Files(), force: true)).Count);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(destination, "cryptopunks")).Length); // no temporaries left
    }

    [Fact]
    public async Task A_bad_download_never_replaces_a_good_file()
    {
        File.WriteAllText(Path.Combine(served, "punks.png"), "not an image");
        var destination = TestData.NewTemporaryDirectory();
        Directory.CreateDirectory(Path.Combine(destination, "cryptopunks"));
        var good = DataDirectory.PunkSheetPath(destination);
        File.Copy(DataDirectory.PunkSheetPath(TestData.Directory), good);
        using var http = new HttpClient();

        var error = await Assert.ThrowsAsync<DataFormatException>(() => new DatasetFetcher(http).FetchAsync(destination, Files().Take(1).ToList(), force: true));
        Assert.Contains("is not a readable PNG", error.Message);
        Assert.Equal(File.ReadAllBytes(DataDirectory.PunkSheetPath(TestData.Directory)), File.ReadAllBytes(good));
        Assert.Single(Directory.GetFiles(Path.Combine(destination, "cryptopunks")));
    }

    [Fact]
    public async Task A_missing_remote_file_is_an_http_error_naming_the_address()
    {
        using var http = new HttpClient();
        var error = await Assert.ThrowsAsync<HttpRequestException>(() =>
            new DatasetFetcher(http).FetchAsync(TestData.NewTemporaryDirectory(), Files().Skip(1).ToList()));
        Assert.Contains("cryptopunks-classic.csv failed: HTTP 404", error.Message);
    }

    [Fact]
    public void Unknown_datasets_name_the_known_ones()
    {
        Assert.Equal(3, DatasetFetcher.FilesOf("cryptopunks").Count);
        Assert.Contains("unknown dataset 'mnist'; allowed: cryptopunks, pokemon", Assert.Throws<ArgumentException>(() => DatasetFetcher.FilesOf("mnist")).Message);
    }

    [Fact]
    public void Pokemon_names_agree_with_the_data_sets_annotations()
    {
        var rows = PokemonDataset.ParseAnnotations(File.ReadLines(PokemonDataset.AnnotationsPath(TestData.Directory)), "annotations.csv");
        foreach (var row in rows.DistinctBy(r => r.ClassName))
        {
            Assert.Equal(row.PokedexNumber, PokemonNames.NumberOf(row.ClassName));
        }
        Assert.Equal(122, PokemonNames.NumberOf("Mr. Mime"));
        Assert.Equal(83, PokemonNames.NumberOf("Farfetch'd"));
        Assert.Null(PokemonNames.NumberOf("Sprites Color"));
    }

    private PokemonSource ServePokemonSource(params string[] listedPaths)
    {
        var tree = new System.Text.Json.Nodes.JsonObject
        {
            ["sha"] = "test",
            ["truncated"] = false,
            ["tree"] = new System.Text.Json.Nodes.JsonArray([
                new System.Text.Json.Nodes.JsonObject { ["path"] = "PokemonData", ["type"] = "tree" },
                .. listedPaths.Select(p => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["path"] = p, ["type"] = "blob" }),
            ]),
        };
        File.WriteAllText(Path.Combine(served, "tree.json"), tree.ToJsonString());
        return new PokemonSource(new Uri(baseUri, "tree.json"), new Uri(baseUri, "raw/"));
    }

    private void ServeRaw(string path, byte[] bytes)
    {
        var file = Path.Combine(served, "raw", path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllBytes(file, bytes);
    }

    /// <summary>A 300x200 RGBA PNG: opaque red in the middle, fully transparent around it.</summary>
    private static byte[] TransparentPng()
    {
        var rgba = new byte[300 * 200 * 4];
        for (var y = 50; y < 150; y++)
        {
            for (var x = 100; x < 200; x++)
            {
                rgba[((y * 300) + x) * 4] = 255;
                rgba[(((y * 300) + x) * 4) + 3] = 255;
            }
        }
        using var stream = new MemoryStream();
        new StbImageWriteSharp.ImageWriter().WritePng(rgba, 300, 200, StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha, stream);
        return stream.ToArray();
    }

    [Fact]
    public async Task The_pokemon_set_is_rebuilt_in_the_seed_layout_skipping_and_counting_bad_files()
    {
        var abra = File.ReadAllBytes(Path.Combine(TestData.Directory, "pokemon", "images", "abra001.jpg"));
        ServeRaw("PokemonData/Abra/b.jpg", abra);
        ServeRaw("PokemonData/Abra/a.jpg", abra);
        ServeRaw("PokemonData/Train/Mr. Mime/mime.png", TransparentPng());
        ServeRaw("PokemonData/Abra/broken.jpg", [0xFF, 0xD8, 0x00, 0x01, 0x02]);
        ServeRaw("PokemonData/Sprites Color/Articuno.png", TransparentPng());
        var source = ServePokemonSource(
            "PokemonData/Abra/b.jpg", "PokemonData/Abra/a.jpg", "PokemonData/Train/Mr. Mime/mime.png", "PokemonData/Abra/broken.jpg",
            "PokemonData/Abra/gone.jpg", "PokemonData/Abra/vector.svg", "PokemonData/Sprites Color/Articuno.png", "README.md");
        var destination = TestData.NewTemporaryDirectory();
        using var http = new HttpClient();
        var fetcher = new PokemonFetcher(http);

        var report = await fetcher.FetchAsync(destination, source);

        Assert.NotNull(report);
        Assert.Equal((3, 2), (report.Images, report.Classes));
        Assert.Equal(["PokemonData/Abra/broken.jpg", "PokemonData/Abra/gone.jpg", "PokemonData/Abra/vector.svg"], report.Skipped.Select(s => s.Path));
        Assert.Contains("HTTP 404", report.Skipped[1].Reason);
        Assert.Equal(["img_name,pokemon_id", "abra001.jpg,63", "abra002.jpg,63", "mrmime001.jpg,122"], File.ReadAllLines(PokemonDataset.AnnotationsPath(destination)));
        var mime = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(Path.Combine(destination, "pokemon", "images", "mrmime001.jpg")), StbImageSharp.ColorComponents.RedGreenBlue);
        Assert.Equal((160, 107), (mime.Width, mime.Height)); // longer side reduced to 160
        Assert.True(mime.Data[0] > 240 && mime.Data[1] > 240 && mime.Data[2] > 240, "transparency is composited on white");
        var centre = ((53 * 160) + 80) * 3;
        Assert.True(mime.Data[centre] > 200 && mime.Data[centre + 1] < 60, "the opaque red stays red");
        var loaded = PokemonDataset.Load(destination, 32);
        Assert.Equal(3, loaded.Images.Count);
        loaded.Pixels.Dispose();

        Assert.Null(await fetcher.FetchAsync(destination, source)); // present: kept
        File.Delete(Path.Combine(served, "tree.json"));
        await Assert.ThrowsAsync<HttpRequestException>(() => fetcher.FetchAsync(destination, source, force: true));
        Assert.Equal(4, File.ReadAllLines(PokemonDataset.AnnotationsPath(destination)).Length); // a failed fetch changes nothing
        Assert.Single(Directory.GetDirectories(destination)); // no staging folders left
    }

    public void Dispose() => server.Dispose();
}
